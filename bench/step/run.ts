/**
 * ms per truncated-BPTT training step: Unroll vs tfjs-layers vs PyTorch, one run.
 *
 *   npx tsx bench/step/run.ts [--quick] [--backends wasm,cpu] [--cells lstm,gru] [--no-torch] [--no-native]
 *
 * Problem: B = 32 streams, T = 35 steps, token embedding 128 → 128, one recurrent
 * layer of 256, linear head to 128 classes, cross-entropy on every step, Adam.
 *
 *  ours (tfjs path)      Trainer.runStep over TokenSequenceData of random tokens:
 *                        windowGradients (fused window op, hand-written BPTT; every
 *                        product on the tfjs backend) + host Adam + writeParams.
 *  ours (native kernel)  the same Trainer.runStep with the kernel `unroll train` uses by
 *                        default, selectKernel({ kernel: 'auto' }), given 1 BLAS thread
 *                        (like single-threaded tfjs-layers and torch at 1 thread): the
 *                        window ops and every product (input projection, recurrence,
 *                        head) run in native code (libs/kernels-native, OpenBLAS); the
 *                        embedding copy, softmax, gradient sums and Adam run in
 *                        JavaScript on host arrays; tfjs still holds the parameters and
 *                        runs the tape and the tensor glue on the named backend. Where
 *                        the addon does not load, 'auto' falls back to the tfjs path and
 *                        the rows say so.
 *  tfjs-layers  tf.sequential embedding → lstm/gru(returnSequences) → dense (3D input),
 *               optimizer.minimize of softmax cross-entropy with tf.train.adam.
 *  torch        bench/step/torch_step.py under /usr/bin/python3, 1 and 2 threads,
 *               spawned before the tfjs runs (never concurrently with them).
 *
 * GRU: tfjs-layers 4.22 supports only reset-before (GRUCell throws on resetAfter:
 * true; the gru() layer args do not even expose it), so
 * ours is timed reset-before against it; PyTorch's GRU is reset-after, so on
 * wasm ours is also timed reset-after against torch.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, selectBackend, selectKernel, RecurrentNetwork, Rng, type CellConfig, type WindowKernel } from '@unroll/models';
import { Adam, TokenSequenceData, Trainer } from '@unroll/bptt';
import { batchify } from '@unroll/datasets';

const B = 32;
const T = 35;
const V = 128;
const E = 128;
const H = 256;
const LN_V = Math.log(V);

type Backend = 'wasm' | 'cpu';
type Cell = 'lstm' | 'gru';

interface Plan {
  warmup: number;
  iters: number;
  /** Seconds of timed steps per configuration (at least one step is always timed). */
  cap: number;
}

interface Timing {
  ms: number;
  n: number;
  loss0: number;
  /** Wall time of step 0 (includes first-call overhead). */
  firstMs: number;
  /** Process CPU time / wall time over the timed steps (≈ 1 single-threaded when not starved). */
  cpuPerWall: number;
  /** 1-minute load average after the timed steps. */
  load: number;
  note?: string;
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
function listArg(name: string, def: string): string[] {
  const i = argv.indexOf(name);
  return (i >= 0 ? argv[i + 1] : def).split(',');
}
const backends = listArg('--backends', 'wasm,cpu') as Backend[];
const cells = listArg('--cells', 'lstm,gru') as Cell[];
const withTorch = !argv.includes('--no-torch');
const withNative = !argv.includes('--no-native');

const plans: Record<Backend, { ours: Plan; native: Plan; layers: Plan }> = quick
  ? {
      wasm: { ours: { warmup: 1, iters: 3, cap: 5 }, native: { warmup: 1, iters: 5, cap: 5 }, layers: { warmup: 1, iters: 2, cap: 5 } },
      cpu: { ours: { warmup: 1, iters: 1, cap: 5 }, native: { warmup: 1, iters: 3, cap: 5 }, layers: { warmup: 1, iters: 1, cap: 5 } },
    }
  : {
      wasm: { ours: { warmup: 3, iters: 15, cap: 20 }, native: { warmup: 3, iters: 30, cap: 20 }, layers: { warmup: 2, iters: 9, cap: 25 } },
      cpu: { ours: { warmup: 1, iters: 3, cap: 25 }, native: { warmup: 3, iters: 20, cap: 20 }, layers: { warmup: 1, iters: 3, cap: 60 } },
    };
/**
 * Windows of random tokens per stream: enough for every plan, and the same for every
 * row, so the rows of one cell start from the same parameters and data (their step-0
 * losses agree to float32 rounding).
 */
const DATA_WINDOWS = Math.max(...Object.values(plans).flatMap((p) => [p.ours, p.native].map((q) => q.warmup + q.iters))) + 2;
/** BLAS threads of the native rows: 1, comparable with single-threaded tfjs-layers and torch at 1 thread. */
const NATIVE_THREADS = 1;
/** tfjs-layers on cpu: above this a single measured step is reported. */
const SLOW_STEP_MS = 60_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randomTokens(rng: Rng, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextU32() % V;
  return out;
}

/** Runs step 0 (loss check, counts as warm-up), the rest of the warm-up, then timed steps. */
async function timeSteps(plan: Plan, step: () => number | Promise<number>, slowMs = Infinity): Promise<Timing> {
  let t0 = performance.now();
  const loss0 = await step();
  const firstMs = performance.now() - t0;
  if (Math.abs(loss0 - LN_V) > 0.1) throw new Error(`step-0 loss ${loss0.toFixed(4)} is not ≈ ln(${V}) = ${LN_V.toFixed(4)}`);
  for (let i = 1; i < plan.warmup; i++) await step();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  while (times.length < plan.iters && (times.length === 0 || performance.now() - started < plan.cap * 1000)) {
    t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
    if (times[0] > slowMs) break;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuPerWall = (cpu.user + cpu.system) / 1000 / (performance.now() - started);
  const note = times.length < plan.iters ? `${times.length} of ${plan.iters} steps (time cap)` : undefined;
  return { ms: median(times), n: times.length, loss0, firstMs, cpuPerWall, load: loadavg()[0], note };
}

function cellConfig(cell: Cell, variant: 'reset-before' | 'reset-after'): CellConfig {
  return cell === 'lstm' ? { kind: 'lstm' } : { kind: 'gru', variant };
}

/** `kernel` undefined: the network's default, the tfjs path. */
async function benchOurs(cell: Cell, variant: 'reset-before' | 'reset-after', plan: Plan, kernel?: WindowKernel): Promise<Timing> {
  const rng = new Rng(1);
  const net = new RecurrentNetwork({ cell: cellConfig(cell, variant), input: { kind: 'tokens', vocabSize: V, embedding: E }, hidden: H, layers: 1, outputSize: V }, rng, { kernel });
  const data = new TokenSequenceData(batchify(randomTokens(rng, B * (DATA_WINDOWS * T + 1)), B));
  const trainer = new Trainer({
    net,
    data,
    tbptt: { streams: B, window: T, stride: T, microBatch: B },
    loss: 'cross-entropy',
    optimizer: new Adam({ lr: 1e-3 }),
  });
  const before = tf.memory().numTensors;
  const r = await timeSteps(plan, () => trainer.runStep().loss);
  const leaked = tf.memory().numTensors - before;
  net.dispose();
  if (leaked > 0) r.note = [r.note, `${leaked} tensors leaked`].filter(Boolean).join('; ');
  return r;
}

/**
 * tfjs-layers' Embedding cannot train on wasm: its gather gradient needs
 * UnsortedSegmentSum, which tfjs-backend-wasm 4.22 does not register. There the
 * embedding is a bias-free dense(128) over one-hot tokens (the same function and
 * gradient; about 2 % of the step's FLOPs).
 */
async function benchLayers(cell: Cell, plan: Plan, slowMs: number, oneHotEmbedding: boolean): Promise<Timing> {
  const model = tfl.sequential();
  if (oneHotEmbedding) model.add(tfl.layers.dense({ inputShape: [T, V], units: E, useBias: false }));
  else model.add(tfl.layers.embedding({ inputDim: V, outputDim: E, inputLength: T }));
  const rnnArgs = { units: H, returnSequences: true, recurrentInitializer: 'glorotUniform' as const, recurrentActivation: 'sigmoid' as const };
  model.add(cell === 'lstm' ? tfl.layers.lstm(rnnArgs) : tfl.layers.gru(rnnArgs));
  model.add(tfl.layers.dense({ units: V }));
  const optimizer = tf.train.adam(1e-3);
  const rng = new Rng(2);
  const before = tf.memory().numTensors;
  const step = (): number => {
    const ids = tf.tensor2d(randomTokens(rng, B * T), [B, T], 'int32');
    const x = oneHotEmbedding ? tf.tidy(() => tf.cast(tf.oneHot(ids, V), 'float32')) : ids;
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(randomTokens(rng, B * T), 'int32'), V));
    const cost = optimizer.minimize(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(y, tf.reshape(logits, [B * T, V])) as tf.Scalar;
    }, true);
    const loss = (cost as tf.Scalar).dataSync()[0];
    tf.dispose([ids, x, y, cost as tf.Scalar]);
    return loss;
  };
  const r = await timeSteps(plan, step, slowMs);
  optimizer.dispose();
  model.dispose();
  const leaked = tf.memory().numTensors - before;
  if (leaked > 0) r.note = [r.note, `${leaked} tensors leaked`].filter(Boolean).join('; ');
  if (r.n === 1 && r.ms > slowMs) r.note = [r.note, `> ${slowMs / 1000} s/step: one measured step`].filter(Boolean).join('; ');
  return r;
}

interface TorchRun {
  torch: string;
  threads: number;
  results: Record<string, { ms: number; n: number; loss0: number; cpu_per_wall: number; load: number }>;
  blas: { blas_info: string; loaded: string[] };
}

function runTorch(threads: number): TorchRun {
  const script = path.join(__dirname, 'torch_step.py');
  const args = [script, '--threads', String(threads), '--cells', cells.join(','), ...(quick ? ['--warmup', '2', '--iters', '5', '--cap', '5'] : ['--warmup', '5', '--iters', '30', '--cap', '20'])];
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', env, timeout: 300_000 });
  if (r.status !== 0) throw new Error(`torch_step.py failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as TorchRun;
}

const f = (ms: number): string => (ms >= 10_000 ? ms.toFixed(0) : ms.toFixed(1));
const describe = (r: Timing): string =>
  `${f(r.ms)} ms/step (median of ${r.n}; step 0 ${f(r.firstMs)} ms, loss ${r.loss0.toFixed(4)}; cpu/wall ${r.cpuPerWall.toFixed(2)}, load ${r.load.toFixed(2)})${r.note ? ` [${r.note}]` : ''}`;

/** The native rows' kernel: `unroll train`'s default choice, with NATIVE_THREADS BLAS threads. */
function nativeRowsKernel(): WindowKernel {
  return selectKernel({ kernel: 'auto', threads: NATIVE_THREADS, log: (line) => console.log(line) });
}

const ratioCell = (layers: Timing, ours: Timing | undefined): string => {
  if (!ours) return '—';
  const r = layers.ms / ours.ms;
  return `${r.toFixed(1)}× ${r >= 10 ? '✓' : '✗'}`;
};

async function main(): Promise<void> {
  const loadStart = loadavg();
  console.log(`bench/step: B=${B} T=${T} vocab=${V} embedding=${E} hidden=${H}${quick ? ' (quick)' : ''}`);
  console.log(`node ${process.version}, ${cpus().length} cpus, load average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}`);
  const native = withNative ? nativeRowsKernel() : undefined;
  const nativeLabel = native?.name === 'native' ? 'native kernel' : 'auto → tfjs path (no native addon)';
  // PyTorch first (about a minute, while the machine is quietest: its 2-thread
  // numbers are the most sensitive to other processes), then the tfjs runs.
  const runs = withTorch ? [1, 2].map((n) => runTorch(n)) : [];
  if (withTorch) console.log(`PyTorch done (load ${loadavg()[0].toFixed(2)})`);
  const rows: string[] = [];
  const notes: string[] = [];
  const oursWasm: Record<string, number> = {};
  const nativeWasm: Record<string, number> = {};
  for (const backend of backends) {
    const info = await selectBackend(backend);
    let detail = info.detail;
    if (backend === 'wasm') detail += tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? ', multithread' : ', single thread';
    console.log(`\n== ${backend} (${detail})`);
    for (const cell of cells) {
      const plan = plans[backend];
      const variant = 'reset-before';
      const label = `${cell}${cell === 'gru' ? ` (${variant})` : ''}`;
      const ours = await benchOurs(cell, variant, plan.ours);
      console.log(`ours ${label}, tfjs path: ${describe(ours)}`);
      const nat = native ? await benchOurs(cell, variant, plan.native, native) : undefined;
      if (nat) console.log(`ours ${label}, ${nativeLabel}: ${describe(nat)}`);
      const layers = await benchLayers(cell, plan.layers, backend === 'cpu' ? SLOW_STEP_MS : Infinity, backend === 'wasm');
      console.log(`tfjs-layers ${cell}: ${describe(layers)}`);
      const losses = [ours, ...(nat ? [nat] : []), layers].map((r) => r.loss0.toFixed(3)).join(' / ');
      rows.push(`| ${backend} | ${cell} | ${f(ours.ms)} (n=${ours.n}) | ${nat ? `${f(nat.ms)} (n=${nat.n})` : '—'} | ${f(layers.ms)} (n=${layers.n}) | ${ratioCell(layers, ours)} | ${ratioCell(layers, nat)} | ${losses} |`);
      if (layers.note) notes.push(`${backend} tfjs-layers ${cell}: ${layers.note}`);
      if (ours.note) notes.push(`${backend} ours ${cell} (tfjs path): ${ours.note}`);
      if (nat?.note) notes.push(`${backend} ours ${cell} (${nativeLabel}): ${nat.note}`);
      if (backend === 'wasm') {
        oursWasm[cell] = ours.ms;
        if (nat) nativeWasm[cell] = nat.ms;
        if (cell === 'gru' && runs.length) {
          const ra = await benchOurs(cell, 'reset-after', plan.ours);
          console.log(`ours gru (reset-after, as torch), tfjs path: ${describe(ra)}`);
          oursWasm['gru-reset-after'] = ra.ms;
          if (native) {
            const nra = await benchOurs(cell, 'reset-after', plan.native, native);
            console.log(`ours gru (reset-after, as torch), ${nativeLabel}: ${describe(nra)}`);
            nativeWasm['gru-reset-after'] = nra.ms;
          }
        }
      }
    }
  }
  console.log('\nours (tfjs path): every product on the tfjs backend named in the row (the network default without a kernel).');
  if (native) {
    console.log(
      native.name === 'native'
        ? `ours (native kernel): ${native.reason}. The window ops (forward and BPTT) and every product, the head's included, run in native code (libs/kernels-native on OpenBLAS, ${NATIVE_THREADS} BLAS thread); embedding copy, softmax, gradient sums and Adam run in JavaScript on host arrays; tfjs holds the parameters and runs the tape and the tensor glue on the backend named in the row.`
        : `ours (native kernel): NOT native — ${native.reason}; these rows ran the tfjs path.`,
    );
  }
  console.log(`\n| backend | cell | ours, tfjs path ms/step | ours, ${nativeLabel} ms/step | tfjs-layers ms/step | tfjs-layers / ours tfjs path (≥ 10×) | tfjs-layers / ours ${nativeLabel} (≥ 10×) | step-0 loss ours tfjs${native ? ' / ours native' : ''} / layers (ln ${V} = ${LN_V.toFixed(3)}) |`);
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);

  if (runs.length && oursWasm.lstm !== undefined) {
    const blas = runs[0].blas;
    console.log(`\nPyTorch ${runs[0].torch} (/usr/bin/python3), BLAS_INFO=${blas.blas_info}, loaded: ${blas.loaded.join(', ')}`);
    console.log(`\n| cell | ours wasm ms/step (tfjs path) | ours wasm ms/step (${nativeLabel}) | torch 1 thr ms/step | ours / torch-1 (≤ 6×) | torch 2 thr ms/step | ours / torch-2 (≤ 6×) | torch step-0 loss | torch cpu/wall 1 / 2 thr |`);
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const cell of cells) {
      const key = cell === 'gru' && oursWasm['gru-reset-after'] !== undefined ? 'gru-reset-after' : cell;
      const ours = oursWasm[key];
      const nat = nativeWasm[key];
      const [t1, t2] = runs.map((r) => r.results[cell]);
      const r1 = ours / t1.ms;
      const r2 = ours / t2.ms;
      const label = cell === 'gru' ? 'gru (reset-after)' : cell;
      // Two threads that get less than ~1.5 cores were competing with other processes.
      const starved = t2.cpu_per_wall < 1.5 ? ' (contended: < 1.5 cores)' : '';
      if (starved) notes.push(`torch 2 threads ${cell}: cpu/wall ${t2.cpu_per_wall.toFixed(2)}, the 2-thread time is not trustworthy`);
      const natCell = nat === undefined ? '—' : `${f(nat)} (${(nat / t1.ms).toFixed(2)}× torch-1)`;
      console.log(`| ${label} | ${f(ours)} | ${natCell} | ${f(t1.ms)} (n=${t1.n}) | ${r1.toFixed(1)}× ${r1 <= 6 ? '✓' : '✗'} | ${f(t2.ms)} (n=${t2.n})${starved} | ${r2.toFixed(1)}× ${starved ? '?' : r2 <= 6 ? '✓' : '✗'} | ${t1.loss0.toFixed(3)} | ${t1.cpu_per_wall.toFixed(2)} / ${t2.cpu_per_wall.toFixed(2)} |`);
    }
  }
  for (const n of notes) console.log(`note: ${n}`);
  const loadEnd = loadavg();
  console.log(`\nload average at end ${loadEnd.map((x) => x.toFixed(2)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
