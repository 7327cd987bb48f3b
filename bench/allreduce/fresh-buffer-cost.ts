/**
 * What a fresh megabyte costs (not a test): `npx tsx bench/allreduce/fresh-buffer-cost.ts`.
 *
 * grpc-js copies every message into a fresh buffer twice (its frame on send, its
 * reassembly on receipt). This prints the CPU time per MiB of (a) allocating a
 * fresh 1 MiB Buffer and copying into it, as `Buffer.concat` of 16 × 64 KiB
 * reads does, and (b) copying the same bytes into a reused buffer, which is what
 * the raw-TCP ring does. RESULTS.md (third pass) quotes it.
 */
const MiB = 1 << 20;
const reads = Array.from({ length: 16 }, () => Buffer.alloc(MiB / 16, 1));
const reused = Buffer.allocUnsafe(MiB);
const kept: Buffer[] = [];

function cpuPerMiB(name: string, once: () => void, iterations = 300): void {
  once();
  const before = process.cpuUsage();
  for (let i = 0; i < iterations; i++) once();
  const used = process.cpuUsage(before);
  console.log(`${name.padEnd(40)} ${((used.user + used.system) / iterations).toFixed(0).padStart(6)} µs CPU per MiB (system ${(used.system / iterations).toFixed(0)})`);
}

cpuPerMiB('fresh 1 MiB buffer + copy (Buffer.concat)', () => {
  kept.push(Buffer.concat(reads)); // kept a while, as grpc-js's messages are
  if (kept.length > 16) kept.shift();
});
cpuPerMiB('copy into a reused 1 MiB buffer', () => {
  let at = 0;
  for (const r of reads) at += r.copy(reused, at);
});
