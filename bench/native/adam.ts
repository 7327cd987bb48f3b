/**
 * Adam's update on the foundation's LSTM step shapes (444,544 parameters: embedding
 * 128×128, W_ih 1024×128, W_hh 1024×256, two biases of 1024, head 128×256 + 128) —
 * the optimizer a distributed worker runs on its event loop between the all-reduce
 * and the next window (apps/worker staged-update.ts):
 *
 *   js        libs/bptt Adam, its JavaScript loop
 *   native    the same Adam with the addon's adamExact loop (float64 operations in
 *             the JavaScript order, vectorized) — checked here to give the same bytes
 *
 *   npx tsx bench/native/adam.ts [--rounds 5] [--steps 50]
 *
 * Rounds alternate the two in one process, on the same arrays' copies; the median
 * over rounds of each round's mean ms/step is reported, and their ratio.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Adam, type NamedArrays } from '@unroll/bptt';
import { loadNativeKernels } from '@unroll/kernels-native';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, steps: { type: 'string', default: '50' } } });
const ROUNDS = Number(values.rounds);
const STEPS = Number(values.steps);

const native = loadNativeKernels({ threads: 1 });
if (!native.ok) throw new Error(`the native addon did not load (${native.reason})`);
const binding = native.kernels.binding;

const SHAPES: Array<[string, number]> = [
  ['embedding', 128 * 128],
  ['weight_ih_l0', 1024 * 128],
  ['weight_hh_l0', 1024 * 256],
  ['bias_ih_l0', 1024],
  ['bias_hh_l0', 1024],
  ['head.weight', 128 * 256],
  ['head.bias', 128],
];
let seed = 7;
const rand = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
};
const params: NamedArrays = new Map(SHAPES.map(([n, len]) => [n, Float32Array.from({ length: len }, () => rand() * 0.2)]));
const grads: NamedArrays = new Map(SHAPES.map(([n, len]) => [n, Float32Array.from({ length: len }, () => rand() * 1e-2)]));
const copy = (m: NamedArrays): NamedArrays => new Map([...m].map(([k, v]) => [k, Float32Array.from(v)]));
const count = SHAPES.reduce((n, [, len]) => n + len, 0);

const variants = {
  js: { opt: new Adam({ lr: 1e-3 }), p: copy(params), times: [] as number[] },
  native: { opt: new Adam({ lr: 1e-3 }, binding.adamExact.bind(binding)), p: copy(params), times: [] as number[] },
};
for (let round = 0; round < ROUNDS; round++) {
  for (const v of Object.values(variants)) {
    v.opt.step(v.p, grads); // warm-up of this round
    const t0 = performance.now();
    for (let s = 0; s < STEPS; s++) v.opt.step(v.p, grads);
    v.times.push((performance.now() - t0) / STEPS);
  }
}
const same = [...variants.js.p].every(([k, a]) => Buffer.from(a.buffer).equals(Buffer.from((variants.native.p.get(k) as Float32Array).buffer)));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const js = median(variants.js.times);
const nat = median(variants.native.times);
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`Adam over ${count.toLocaleString('en')} parameters, ${ROUNDS} rounds × ${STEPS} steps (median of round means); ${native.detail}; load ${load}`);
console.log('| loop | ms/step | vs js |');
console.log('|---|---:|---:|');
console.log(`| js (libs/bptt) | ${js.toFixed(3)} | 1.00× |`);
console.log(`| native adamExact | ${nat.toFixed(3)} | ${(js / nat).toFixed(2)}× faster |`);
console.log(`parameters after ${ROUNDS * (STEPS + 1)} steps bit-identical: ${same}`);
if (!same) process.exitCode = 1;
