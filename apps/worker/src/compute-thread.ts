/**
 * The compute thread of a worker process (window-compute.ts has the protocol): its
 * own tfjs on the backend the worker advertises, and per experiment its own data
 * and network, built from the spec exactly as ExperimentSession.load builds them
 * (same seed); parameters arrive from the main thread with the first window of each
 * committed version. Replies transfer the gradient and state buffers (no copy).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildNetwork, experimentKernel, kernelSelectionFromEnv, loadExperimentData, windowGradients, type ExperimentData } from '@unroll/bptt';
import { Rng, selectBackend, tf, type BackendName, type RecurrentNetwork } from '@unroll/models';
import { parseSpec, type ExperimentSpec } from '@unroll/spec';
import { traceAs, traceEvent } from '@unroll/cluster';
import type { ThreadReply, ThreadRequest } from './window-compute';

interface Held {
  specYaml: string;
  spec: ExperimentSpec;
  data: ExperimentData;
  net: RecurrentNetwork;
  version: number;
}

const experiments = new Map<string, Held>();

function held(r: ThreadRequest): Held {
  let h = experiments.get(r.experiment);
  if (h && h.specYaml !== r.specYaml) {
    h.net.dispose();
    h = undefined;
  }
  if (!h) {
    const spec = parseSpec(r.specYaml, `experiment ${r.experiment}`);
    const data = loadExperimentData(spec, r.dataRoot);
    // The worker's kernel (--kernel / UNROLL_KERNEL, which this thread inherits, else the spec's, else auto).
    const kernel = experimentKernel(spec, kernelSelectionFromEnv(process.env, (line) => void process.stderr.write(`unroll-worker (compute thread): ${line}\n`)));
    h = { specYaml: r.specYaml, spec, data, net: buildNetwork(spec, data, new Rng(spec.spec.seed), kernel), version: 0 };
    experiments.set(r.experiment, h);
  }
  return h;
}

function compute(r: ThreadRequest): ThreadReply & { ok: true } {
  traceEvent('th.recv', { s: r.version, first: r.firstStream, params: r.params !== undefined });
  const h = held(r);
  if (r.params) {
    for (const [name, values] of r.params) {
      const spec = h.net.specs.find((s) => s.name === name);
      if (!spec) throw new Error(`parameter ${name} is not in the network`);
      const t = tf.tensor(values, spec.shape);
      h.net.param(name).assign(t);
      t.dispose();
    }
    h.version = r.version;
    traceEvent('th.params', { s: r.version, first: r.firstStream });
  }
  if (h.version !== r.version) throw new Error(`the thread's parameters of ${r.experiment} are at version ${h.version}, the window needs ${r.version}`);
  const out = windowGradients(h.net, h.data.train.window(r.firstStream, r.streams, r.start, r.k2), r.state, { loss: h.spec.spec.loss, scoredFrom: r.scoredFrom, carryAt: r.carryAt });
  // The gradient arrays are the window's own; the carried state may view a kernel buffer: copied (B × H, small) before transfer.
  const carry = out.carry.map((l) => ({ h: Float32Array.from(l.h), c: l.c ? Float32Array.from(l.c) : undefined }));
  traceEvent('th.done', { s: r.version, first: r.firstStream });
  return { seq: r.seq, ok: true, lossSum: out.lossSum, count: out.count, grads: [...out.grads], carry };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('compute-thread.ts runs as a worker thread');
  const data = workerData as { backend: BackendName; traceAs?: string };
  if (data.traceAs) traceAs(data.traceAs);
  try {
    await selectBackend(data.backend);
  } catch (e) {
    port.postMessage({ ready: false, error: e instanceof Error ? e.message : String(e) });
    return;
  }
  port.on('message', (m: ThreadRequest | { kind: 'release'; experiment: string }) => {
    if (m.kind === 'release') {
      experiments.get(m.experiment)?.net.dispose();
      experiments.delete(m.experiment);
      return;
    }
    try {
      const reply = compute(m);
      const buffers = [...reply.grads.map(([, g]) => g.buffer), ...reply.carry.flatMap((l) => (l.c ? [l.h.buffer, l.c.buffer] : [l.h.buffer]))];
      port.postMessage(reply, [...new Set(buffers)] as ArrayBuffer[]);
    } catch (e) {
      port.postMessage({ seq: m.seq, ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) } satisfies ThreadReply);
    }
  });
  port.postMessage({ ready: true });
}

void main();
