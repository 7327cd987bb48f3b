import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { ALL_REF_CELLS, LSTM_VARIANT_CELLS, RefCell, RefDims, refCellName } from './ref-cell';
import { referenceBackward } from './reference-f64';
import { relError } from './rel-error';
import { randomArray, randomParams, seededRandom } from './seeded-random';
import { tapedWindow } from './taped-tf';

/** Rounds to float32 and back, so the float64 reference sees exactly what tfjs sees. */
function f32(a: Float64Array): Float64Array {
  return Float64Array.from(Float32Array.from(a));
}

function readF64(t: tf.Tensor): Float64Array {
  return Float64Array.from(t.dataSync());
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('tapedWindow (float32, cpu) vs the float64 reference', () => {
  const d: RefDims = { T: 4, B: 2, I: 3, H: 5 };
  const { T, B, I, H } = d;

  describe.each([...ALL_REF_CELLS, ...LSTM_VARIANT_CELLS].map((cell) => [refCellName(cell), cell] as [string, RefCell]))('%s', (_name, cell) => {
    const rng = seededRandom(7);
    const lstm = cell.cell === 'lstm';
    const raw = randomParams(cell, I, H, rng, 0.5);
    const p = { wIh: f32(raw.wIh), wHh: f32(raw.wHh), bIh: f32(raw.bIh), bHh: f32(raw.bHh), ...(raw.wCh ? { wCh: f32(raw.wCh) } : {}) };
    const peep = p.wCh !== undefined;
    const rows = p.bIh.length;
    const x = f32(randomArray(T * B * I, rng));
    const h0 = f32(randomArray(B * H, rng, 0.5));
    const c0 = lstm ? f32(randomArray(B * H, rng, 0.5)) : undefined;
    const dY = f32(randomArray(T * B * H, rng));
    const dHT = f32(randomArray(B * H, rng));
    const dCT = lstm ? f32(randomArray(B * H, rng)) : undefined;
    const ref = referenceBackward(cell, p, d, x, h0, c0, dY, dHT, dCT);

    // Runs the taped window and tf.grads of L = Σ dY⊙y + Σ dHT⊙hT + Σ dCT⊙cT
    // inside one tidy; returns plain arrays and the tensor count around it.
    function runTaped(): { out: Record<string, Float64Array>; before: number; after: number } {
      const before = tf.memory().numTensors;
      const tensors = tf.tidy(() => {
        const args: tf.Tensor[] = [
          tf.tensor3d(Float32Array.from(x), [T, B, I], 'float32'),
          tf.tensor2d(Float32Array.from(h0), [B, H], 'float32'),
          tf.tensor2d(Float32Array.from(p.wIh), [rows, I], 'float32'),
          tf.tensor2d(Float32Array.from(p.wHh), [rows, H], 'float32'),
          tf.tensor1d(Float32Array.from(p.bIh), 'float32'),
          tf.tensor1d(Float32Array.from(p.bHh), 'float32'),
        ];
        if (c0 !== undefined) args.push(tf.tensor2d(Float32Array.from(c0), [B, H], 'float32'));
        if (p.wCh !== undefined) args.push(tf.tensor2d(Float32Array.from(p.wCh), [p.wCh.length / H, H], 'float32'));
        const dYt = tf.tensor3d(Float32Array.from(dY), [T, B, H], 'float32');
        const dHTt = tf.tensor2d(Float32Array.from(dHT), [B, H], 'float32');
        const dCTt = dCT === undefined ? undefined : tf.tensor2d(Float32Array.from(dCT), [B, H], 'float32');
        const window = (a: tf.Tensor[]) =>
          tapedWindow(
            cell,
            { wIh: a[2] as tf.Tensor2D, wHh: a[3] as tf.Tensor2D, bIh: a[4] as tf.Tensor1D, bHh: a[5] as tf.Tensor1D, wCh: a[7] as tf.Tensor2D | undefined },
            a[0] as tf.Tensor3D,
            a[1] as tf.Tensor2D,
            a[6] as tf.Tensor2D | undefined,
          );
        const loss = (...a: tf.Tensor[]): tf.Scalar => {
          const w = window(a);
          let l = tf.add(tf.sum(tf.mul(dYt, w.y)), tf.sum(tf.mul(dHTt, w.hT)));
          if (dCTt !== undefined && w.cT !== undefined) l = tf.add(l, tf.sum(tf.mul(dCTt, w.cT)));
          return l as tf.Scalar;
        };
        const [dX, dH0, dWIh, dWHh, dBIh, dBHh, dC0, dWCh] = tf.grads(loss)(args);
        const fwd = window(args);
        const result: Record<string, tf.Tensor> = { y: fwd.y, hT: fwd.hT, dX, dH0, dWIh, dWHh, dBIh, dBHh };
        if (fwd.cT !== undefined) result.cT = fwd.cT;
        if (dC0 !== undefined) result.dC0 = dC0;
        if (dWCh !== undefined) result.dWCh = dWCh;
        return result;
      });
      const out: Record<string, Float64Array> = {};
      for (const [k, t] of Object.entries(tensors)) out[k] = readF64(t);
      tf.dispose(tensors);
      return { out, before, after: tf.memory().numTensors };
    }

    const forwardNames = lstm ? ['y', 'hT', 'cT'] : ['y', 'hT'];
    const gradNames = ['dX', 'dH0', 'dWIh', 'dWHh', 'dBIh', 'dBHh', ...(lstm ? ['dC0'] : []), ...(peep ? ['dWCh'] : [])];
    let taped: ReturnType<typeof runTaped>;
    beforeAll(() => {
      taped = runTaped();
    });

    it.each(forwardNames)('forward %s matches within 1e-5 relative', (name) => {
      const expected = ref[name as keyof typeof ref];
      if (expected === undefined) throw new Error(`reference has no ${name}`);
      expect(relError(taped.out[name], expected)).toBeLessThanOrEqual(1e-5);
    });

    it.each(gradNames)('tf.grads %s matches referenceBackward within 1e-4 relative', (name) => {
      const expected = ref[name as keyof typeof ref];
      if (expected === undefined) throw new Error(`reference has no ${name}`);
      expect(relError(taped.out[name], expected)).toBeLessThanOrEqual(1e-4);
    });

    it('returns exactly the expected outputs and leaks no tensor', () => {
      expect(Object.keys(taped.out).sort()).toEqual([...forwardNames, ...gradNames].sort());
      expect(taped.after).toBe(taped.before);
    });

    it('keeps only its outputs alive', () => {
      const inputs = [
        tf.tensor2d(Float32Array.from(p.wIh), [rows, I]),
        tf.tensor2d(Float32Array.from(p.wHh), [rows, H]),
        tf.tensor1d(Float32Array.from(p.bIh)),
        tf.tensor1d(Float32Array.from(p.bHh)),
        tf.tensor3d(Float32Array.from(x), [T, B, I]),
        tf.tensor2d(Float32Array.from(h0), [B, H]),
      ] as const;
      const before = tf.memory().numTensors;
      const [wIh, wHh, bIh, bHh, xt, h0t] = inputs;
      const wCh = p.wCh ? tf.tensor2d(Float32Array.from(p.wCh), [p.wCh.length / H, H]) : undefined;
      const r = tapedWindow(cell, { wIh, wHh, bIh, bHh, wCh }, xt, h0t);
      expect(tf.memory().numTensors).toBe(before + (wCh ? 1 : 0) + (lstm ? 3 : 2));
      tf.dispose([r.y, r.hT, ...(r.cT ? [r.cT] : []), ...inputs, ...(wCh ? [wCh] : [])]);
      expect(tf.memory().numTensors).toBe(before - inputs.length);
    });
  });
});

describe('tapedWindow input validation', () => {
  it('names the field, the expected shape and the shape it got', () => {
    const cell: RefCell = { cell: 'lstm' };
    tf.tidy(() => {
      const p = {
        wIh: tf.zeros([8, 3]) as tf.Tensor2D,
        wHh: tf.zeros([8, 2]) as tf.Tensor2D,
        bIh: tf.zeros([8]) as tf.Tensor1D,
        bHh: tf.zeros([7]) as tf.Tensor1D, // G·H = 4·2 = 8 expected
      };
      expect(() => tapedWindow(cell, p, tf.zeros([2, 1, 3]) as tf.Tensor3D, tf.zeros([1, 2]) as tf.Tensor2D)).toThrow(
        'tapedWindow: bHh must be [G·H] = [8], got [7]',
      );
    });
  });
});
