/**
 * ms per training step of the lecture's deeper LSTM architectures, at the shapes of
 * bench/step: ours (two window kernels) beside tfjs-layers, in one run.
 *
 *   npx tsx bench/architectures/run.ts [--quick] [--backends wasm,cpu] [--archs bi1,deep2,deep3,bideep2] [--no-torch]
 *
 * Problem (bench/step's): B = 32 streams, T = 35 steps, token embedding 128 → 128,
 * hidden 256 per layer and direction, linear head to 128 classes, cross-entropy on
 * every step, Adam lr 1e-3. Architectures:
 *
 *   bi1      bidirectional LSTM, 1 layer      (head reads [s^f, s^b], 512 wide)
 *   deep2    LSTM, 2 stacked layers
 *   deep3    LSTM, 3 stacked layers
 *   bideep2  deep bidirectional LSTM, 2 layers (layer 2 reads both directions of layer 1)
 *
 * Contenders, per backend (wasm, cpu):
 *
 *  ours tfjs    Trainer.runStep (windowGradients: one fused window op per layer and
 *               direction, hand-written BPTT; host Adam; writeParams), window kernel
 *               selectKernel({kernel: 'tfjs'}). Bidirectional nets hand back a zero
 *               carry, i.e. every window is an independent sequence — what a spec says
 *               with tbptt.independentWindows: true; deep causal nets carry their state.
 *  ours auto    the same with selectKernel({kernel: 'auto', threads: 1}): the native
 *               OpenBLAS window kernel on 1 BLAS thread where the addon loads (the
 *               printed kernel line says which one ran); embedding, head and loss stay
 *               on the tfjs backend.
 *  tfjs-layers  tf.sequential: embedding → lstm(returnSequences) ×L, or
 *               bidirectional({layer: lstm(returnSequences), mergeMode: 'concat'}) ×L →
 *               dense(128); optimizer.minimize of softmaxCrossEntropy with tf.train.adam.
 *               bench/step's workarounds: recurrentInitializer glorotUniform,
 *               recurrentActivation sigmoid, and on wasm a bias-free dense(128) over
 *               one-hot tokens instead of embedding (tfjs-backend-wasm 4.22 cannot
 *               train Embedding: no UnsortedSegmentSum).
 *  torch        bench/architectures/torch_arch.py under /usr/bin/python3 with 1 thread
 *               (nn.LSTM(num_layers, bidirectional)), spawned before the tfjs runs.
 *
 * Timing: step 0 (its loss checked against ln 128), warm-up, then the median of the
 * timed steps, which stop at a per-configuration time cap; a step 0 slower than
 * SLOW_STEP_MS gets exactly one timed step. Each configuration runs in its own child
 * process (`--child backend:arch:who`), killed after HARD_CAP seconds — its row then
 * says so — so one slow configuration (tfjs-layers on the cpu backend) cannot stretch
 * the run: 24 configurations stay within ~10 min on 2 cores. The printed `cpu/wall` and
 * load say how contended each timing was.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, selectBackend, selectKernel, RecurrentNetwork, Rng, type WindowKernel } from '@unroll/models';
import { Adam, TokenSequenceData, Trainer } from '@unroll/bptt';
import { batchify } from '@unroll/datasets';

const B = 32;
const T = 35;
const V = 128;
const E = 128;
const H = 256;
const LN_V = Math.log(V);

type Backend = 'wasm' | 'cpu';

interface Arch {
  layers: number;
  bidirectional: boolean;
  label: string;
}

const ARCHS: Record<string, Arch> = {
  bi1: { layers: 1, bidirectional: true, label: 'bidirectional LSTM ×1' },
  deep2: { layers: 2, bidirectional: false, label: 'LSTM ×2' },
  deep3: { layers: 3, bidirectional: false, label: 'LSTM ×3' },
  bideep2: { layers: 2, bidirectional: true, label: 'bidirectional LSTM ×2' },
};

interface Plan {
  warmup: number;
  iters: number;
  /** Seconds of timed steps per configuration (at least one step is always timed). */
  cap: number;
}

/**
 * Per backend. cpu (tfjs's plain-JS backend) is ~20–40× slower than wasm: one LSTM
 * layer is ~4 s/step ours and ~8 s tfjs-layers there (bench/step), so its plans are a
 * single timed step after step 0 — the caps, not the counts, bound the run.
 */
const PLANS: Record<'full' | 'quick', Record<Backend, Plan>> = {
  full: { wasm: { warmup: 2, iters: 9, cap: 8 }, cpu: { warmup: 1, iters: 2, cap: 15 } },
  quick: { wasm: { warmup: 1, iters: 2, cap: 3 }, cpu: { warmup: 1, iters: 1, cap: 1 } },
};
/** Above this, step 0 alone decides: one timed step. */
const SLOW_STEP_MS = 15_000;
/**
 * Wall seconds a configuration's child process may take, start-up included, before it is
 * killed. wasm: ours takes a few seconds, tfjs-layers up to ~8 s of timed steps after
 * step 0 and warm-up. cpu: the slowest configuration, tfjs-layers' deep bidirectional
 * LSTM, took 49 s (step 0) + 40 s (one timed step) at load ~4 on 2 cores: it fits.
 */
const HARD_CAP: Record<'full' | 'quick', Record<Backend, number>> = {
  full: { wasm: 45, cpu: 120 },
  quick: { wasm: 30, cpu: 120 },
};

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
function listArg(name: string, def: string): string[] {
  const i = argv.indexOf(name);
  return (i >= 0 ? argv[i + 1] : def).split(',');
}
const backends = listArg('--backends', 'wasm,cpu') as Backend[];
const archNames = listArg('--archs', Object.keys(ARCHS).join(','));
for (const a of archNames) if (!ARCHS[a]) throw new Error(`--archs: unknown architecture ${a}; expected some of ${Object.keys(ARCHS).join(', ')}`);
const withTorch = !argv.includes('--no-torch');
/** Set in a child process: the one configuration it times. */
const child = argv.includes('--child') ? argv[argv.indexOf('--child') + 1] : undefined;
const CONTENDERS = ['ours-tfjs', 'ours-auto', 'tfjs-layers'] as const;
type Contender = (typeof CONTENDERS)[number];

interface Timing {
  ms: number;
  n: number;
  loss0: number;
  firstMs: number;
  cpuPerWall: number;
  load: number;
  note?: string;
}

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

async function timeSteps(plan: Plan, step: () => number): Promise<Timing> {
  let t0 = performance.now();
  const loss0 = step();
  const firstMs = performance.now() - t0;
  if (Math.abs(loss0 - LN_V) > 0.15) throw new Error(`step-0 loss ${loss0.toFixed(4)} is not ≈ ln(${V}) = ${LN_V.toFixed(4)}`);
  const slow = firstMs > SLOW_STEP_MS;
  if (!slow) for (let i = 1; i < plan.warmup; i++) step();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const iters = slow ? 1 : plan.iters;
  while (times.length < iters && (times.length === 0 || performance.now() - started < plan.cap * 1000)) {
    t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuPerWall = (cpu.user + cpu.system) / 1000 / (performance.now() - started);
  const notes = [slow ? `step 0 > ${SLOW_STEP_MS / 1000} s: no warm-up, one timed step` : '', times.length < iters ? `${times.length} of ${iters} steps (time cap)` : ''];
  // Let the event loop run between configurations (wasm frees memory lazily).
  await new Promise((r) => setImmediate(r));
  return { ms: median(times), n: times.length, loss0, firstMs, cpuPerWall, load: loadavg()[0], note: notes.filter(Boolean).join('; ') || undefined };
}

function withLeakCheck(r: Timing, before: number): Timing {
  const leaked = tf.memory().numTensors - before;
  if (leaked > 0) r.note = [r.note, `${leaked} tensors leaked`].filter(Boolean).join('; ');
  return r;
}

async function benchOurs(arch: Arch, kernel: WindowKernel, plan: Plan): Promise<Timing> {
  const rng = new Rng(1);
  const net = new RecurrentNetwork(
    { cell: { kind: 'lstm' }, input: { kind: 'tokens', vocabSize: V, embedding: E }, hidden: H, layers: arch.layers, outputSize: V, ...(arch.bidirectional ? { bidirectional: true } : {}) },
    rng,
    { kernel },
  );
  const windows = plan.warmup + plan.iters + 2;
  const data = new TokenSequenceData(batchify(randomTokens(rng, B * (windows * T + 1)), B));
  const trainer = new Trainer({ net, data, tbptt: { streams: B, window: T, stride: T, microBatch: B }, loss: 'cross-entropy', optimizer: new Adam({ lr: 1e-3 }) });
  const before = tf.memory().numTensors;
  const r = await timeSteps(plan, () => trainer.runStep().loss);
  net.dispose();
  return withLeakCheck(r, before);
}

async function benchLayers(arch: Arch, plan: Plan, oneHotEmbedding: boolean): Promise<Timing> {
  const model = tfl.sequential();
  if (oneHotEmbedding) model.add(tfl.layers.dense({ inputShape: [T, V], units: E, useBias: false }));
  else model.add(tfl.layers.embedding({ inputDim: V, outputDim: E, inputLength: T }));
  for (let k = 0; k < arch.layers; k++) {
    const lstm = tfl.layers.lstm({ units: H, returnSequences: true, recurrentInitializer: 'glorotUniform', recurrentActivation: 'sigmoid' });
    model.add(arch.bidirectional ? tfl.layers.bidirectional({ layer: lstm, mergeMode: 'concat' }) : lstm);
  }
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
    }, true) as tf.Scalar;
    const loss = cost.dataSync()[0];
    tf.dispose([ids, x, y, cost]);
    return loss;
  };
  const r = await timeSteps(plan, step);
  optimizer.dispose();
  model.dispose();
  return withLeakCheck(r, before);
}

interface TorchResult {
  ms: number;
  n: number;
  loss0: number;
  cpu_per_wall: number;
}

function runTorch(names: string[]): { torch: string; results: Record<string, TorchResult> } | undefined {
  const script = path.join(__dirname, 'torch_arch.py');
  const specs = names.map((n) => `${n}:${ARCHS[n].layers}:${ARCHS[n].bidirectional ? 1 : 0}`).join(',');
  const args = [script, '--archs', specs, ...(quick ? ['--warmup', '1', '--iters', '3', '--cap', '3'] : ['--warmup', '3', '--iters', '15', '--cap', '10'])];
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', env, timeout: 300_000 });
  if (r.status !== 0) {
    console.log(`torch_arch.py failed (${r.status ?? r.signal}), no PyTorch column: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    return undefined;
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const f = (ms: number): string => (ms >= 10_000 ? ms.toFixed(0) : ms.toFixed(1));
const describe = (r: Timing): string =>
  `${f(r.ms)} ms/step (median of ${r.n}; step 0 ${f(r.firstMs)} ms, loss ${r.loss0.toFixed(4)}; cpu/wall ${r.cpuPerWall.toFixed(2)}, load ${r.load.toFixed(2)})${r.note ? ` [${r.note}]` : ''}`;

/** Child process: times one configuration and prints it as JSON on the last line. */
async function runChild(spec: string): Promise<void> {
  const [backend, name, who] = spec.split(':') as [Backend, string, Contender];
  const plan = PLANS[quick ? 'quick' : 'full'][backend];
  const info = await selectBackend(backend);
  const kernel = who === 'ours-auto' ? selectKernel({ kernel: 'auto', threads: 1, log: () => undefined }) : selectKernel({ kernel: 'tfjs', log: () => undefined });
  const r = who === 'tfjs-layers' ? await benchLayers(ARCHS[name], plan, backend === 'wasm') : await benchOurs(ARCHS[name], kernel, plan);
  const detail = `${info.detail}${backend === 'wasm' ? (tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? ', multithread' : ', single thread') : ''}`;
  console.log(JSON.stringify({ timing: r, kernel: `${kernel.name} — ${kernel.reason}`, backend: detail }));
}

/** Runs one configuration in a child process, killed after the hard cap. */
function runConfig(backend: Backend, name: string, who: Contender): { timing?: Timing; kernel?: string; backend?: string; failed?: string } {
  const cap = HARD_CAP[quick ? 'quick' : 'full'][backend];
  const args = [...process.execArgv, process.argv[1], '--child', `${backend}:${name}:${who}`, ...(quick ? ['--quick'] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: cap * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 24 });
  if (r.error || r.status !== 0) {
    const why = r.signal === 'SIGKILL' ? `killed after the ${cap} s cap` : `failed (${r.status ?? r.signal}): ${r.stderr.trim().split('\n').pop() ?? ''}`;
    return { failed: why };
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`bench/architectures: B=${B} T=${T} vocab=${V} embedding=${E} hidden=${H}${quick ? ' (quick)' : ''}; ${archNames.join(', ')}`);
  console.log(`node ${process.version}, ${cpus().length} cpus, load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const torch = withTorch ? runTorch(archNames) : undefined;
  if (torch) console.log(`PyTorch ${torch.torch}, 1 thread, done (load ${loadavg()[0].toFixed(2)})`);

  const rows: string[] = [];
  const notes: string[] = [];
  let autoName = 'auto';
  for (const backend of backends) {
    console.log(`\n== ${backend}`);
    for (const name of archNames) {
      const cells: Partial<Record<Contender, Timing>> = {};
      for (const who of CONTENDERS) {
        const r = runConfig(backend, name, who);
        if (r.timing) {
          cells[who] = r.timing;
          if (who === 'ours-auto' && r.kernel) {
            autoName = r.kernel.split(' ')[0];
            notes.push(`${backend} ${name} ours-auto kernel: ${r.kernel}`);
          }
          if (r.timing.note) notes.push(`${backend} ${name} ${who}: ${r.timing.note}`);
        } else notes.push(`${backend} ${name} ${who}: ${r.failed}`);
        console.log(`${name} ${who}${r.backend ? ` (${r.backend})` : ''}: ${r.timing ? describe(r.timing) : (r.failed ?? '?')}`);
      }
      const t = torch?.results[name];
      const show = (x?: Timing) => (x ? `${f(x.ms)} (n=${x.n})` : '–');
      const ratio = (a?: Timing, b?: Timing) => (a && b ? `${(a.ms / b.ms).toFixed(1)}×` : '–');
      const loss = (x?: Timing) => (x ? x.loss0.toFixed(3) : '–');
      const loads = CONTENDERS.map((w) => cells[w]?.load.toFixed(1) ?? '–').join(' / ');
      rows.push(
        `| ${backend} | ${ARCHS[name].label} | ${show(cells['ours-tfjs'])} | ${show(cells['ours-auto'])} | ${show(cells['tfjs-layers'])} | ${ratio(cells['tfjs-layers'], cells['ours-tfjs'])} / ${ratio(cells['tfjs-layers'], cells['ours-auto'])} | ${t ? `${f(t.ms)} (n=${t.n})` : '–'} | ${CONTENDERS.map((w) => loss(cells[w])).join(' / ')} | ${loads} |`,
      );
    }
  }
  console.log(`\n| backend | architecture | ours, tfjs kernel | ours, ${autoName} kernel (1 thr) | tfjs-layers | tfjs-layers / ours (tfjs / ${autoName}) | torch 1 thr | step-0 loss ours tfjs / ${autoName} / layers (ln ${V} = ${LN_V.toFixed(3)}) | load |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(`\nwall time ${((performance.now() - started) / 1000).toFixed(0)} s; load average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

(child ? runChild(child) : main()).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
