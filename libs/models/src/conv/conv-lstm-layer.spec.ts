import { tf } from '../tf';
import { finiteDifference, randomArray, relError, seededRandom } from '../testing';
import { convLstmTaped, ConvLstmShapeError } from './conv-lstm-layer';
import { referenceConvLstmForward, type ConvRefDims, type ConvRefParams } from './reference-f64-conv-lstm';

/**
 * Bounds: forward ≤ 1e-5 and gradients ≤ 1e-4 relative (float32 tfjs against the
 * float64 reference and its central differences). Measured on these shapes:
 * at most 1.8e-7 for the forward and every gradient (cpu backend).
 */
const FWD_TOL = 1e-5;
const GRAD_TOL = 1e-4;

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

describe.each([
  ['3×3 kernel', { T: 3, B: 2, Hh: 4, Ww: 5, C: 2, F: 3, kh: 3, kw: 3 }],
  ['2×3 kernel (uneven same padding)', { T: 2, B: 1, Hh: 3, Ww: 4, C: 1, F: 2, kh: 2, kw: 3 }],
] as [string, ConvRefDims][])('convLstmTaped, %s, against the float64 reference', (_name, d) => {
  beforeAll(() => tf.setBackend('cpu'));
  const rng = seededRandom(20150612);
  const G = 4 * d.F;
  const p: ConvRefParams = {
    wIh: randomArray(G * d.C * d.kh * d.kw, rng, 0.4),
    wHh: randomArray(G * d.F * d.kh * d.kw, rng, 0.4),
    bias: randomArray(G, rng, 0.3),
    wC: randomArray(3 * d.F * d.Hh * d.Ww, rng, 0.5),
  };
  const n = d.B * d.Hh * d.Ww * d.F;
  const x = randomArray(d.T * d.B * d.Hh * d.Ww * d.C, rng);
  const h0 = randomArray(n, rng, 0.5);
  const c0 = randomArray(n, rng, 0.5);
  const dY = randomArray(d.T * n, rng);
  const dHT = randomArray(n, rng);
  const dCT = randomArray(n, rng);
  const refLoss = (q: ConvRefParams, xv: Float64Array, h: Float64Array, c: Float64Array) => {
    const f = referenceConvLstmForward(q, d, xv, h, c);
    return dot(dY, f.y) + dot(dHT, f.hT) + dot(dCT, f.cT);
  };

  const f32 = (a: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(a), shape);
  function run() {
    const ts = {
      x: f32(x, [d.T, d.B, d.Hh, d.Ww, d.C]),
      wIh: f32(p.wIh, [G, d.C, d.kh, d.kw]),
      wHh: f32(p.wHh, [G, d.F, d.kh, d.kw]),
      bias: f32(p.bias, [G]),
      wC: f32(p.wC, [3, d.F, d.Hh, d.Ww]),
      h0: f32(h0, [d.B, d.Hh, d.Ww, d.F]),
      c0: f32(c0, [d.B, d.Hh, d.Ww, d.F]),
    };
    const order = ['x', 'wIh', 'wHh', 'bias', 'wC', 'h0', 'c0'] as const;
    let y: Float32Array = new Float32Array(0);
    const grads = tf.grads((...a: tf.Tensor[]) => {
      const out = convLstmTaped(
        { wIh: a[1] as tf.Tensor4D, wHh: a[2] as tf.Tensor4D, bias: a[3] as tf.Tensor1D, wC: a[4] as tf.Tensor4D },
        a[0] as tf.Tensor5D,
        { h: a[5] as tf.Tensor4D, c: a[6] as tf.Tensor4D },
      );
      y = out.y.dataSync() as Float32Array;
      return tf.addN([tf.sum(tf.mul(out.y, f32(dY, out.y.shape))), tf.sum(tf.mul(out.hT, f32(dHT, out.hT.shape))), tf.sum(tf.mul(out.cT, f32(dCT, out.cT.shape)))]);
    })(order.map((k) => ts[k]));
    const g = Object.fromEntries(order.map((k, i) => [k, Float32Array.from(grads[i].dataSync())]));
    tf.dispose([...Object.values(ts), ...grads]);
    return { y, g };
  }

  it('forward matches', () => {
    const { y } = run();
    expect(relError(y, referenceConvLstmForward(p, d, x, h0, c0).y)).toBeLessThan(FWD_TOL);
  });

  it.each(['x', 'wIh', 'wHh', 'bias', 'wC', 'h0', 'c0'])('tfjs autodiff ∂L/∂%s matches float64 central differences', (name) => {
    const { g } = run();
    const fd = {
      x: () => finiteDifference((v) => refLoss(p, v, h0, c0), x),
      h0: () => finiteDifference((v) => refLoss(p, x, v, c0), h0),
      c0: () => finiteDifference((v) => refLoss(p, x, h0, v), c0),
      wIh: () => finiteDifference((v) => refLoss({ ...p, wIh: v }, x, h0, c0), p.wIh),
      wHh: () => finiteDifference((v) => refLoss({ ...p, wHh: v }, x, h0, c0), p.wHh),
      bias: () => finiteDifference((v) => refLoss({ ...p, bias: v }, x, h0, c0), p.bias),
      wC: () => finiteDifference((v) => refLoss({ ...p, wC: v }, x, h0, c0), p.wC),
    }[name] as () => Float64Array;
    expect(relError(g[name], fd())).toBeLessThan(GRAD_TOL);
  });

  it('leaks no tensor and returns the carry at carryAt', () => {
    const before = tf.memory().numTensors;
    const carry = tf.tidy(() => {
      const out = convLstmTaped(
        {
          wIh: tf.tensor4d(Float32Array.from(p.wIh), [G, d.C, d.kh, d.kw]),
          wHh: tf.tensor4d(Float32Array.from(p.wHh), [G, d.F, d.kh, d.kw]),
          bias: tf.tensor1d(Float32Array.from(p.bias)),
          wC: tf.tensor4d(Float32Array.from(p.wC), [3, d.F, d.Hh, d.Ww]),
        },
        tf.tensor5d(Float32Array.from(x), [d.T, d.B, d.Hh, d.Ww, d.C]),
        { h: tf.tensor4d(Float32Array.from(h0), [d.B, d.Hh, d.Ww, d.F]), c: tf.tensor4d(Float32Array.from(c0), [d.B, d.Hh, d.Ww, d.F]) },
        0,
      );
      expect(out.y.shape).toEqual([d.T, d.B, d.Hh, d.Ww, d.F]);
      expect(out.cT.shape).toEqual([d.B, d.Hh, d.Ww, d.F]);
      return out.carry;
    });
    expect(tf.memory().numTensors).toBe(before);
    const ref = referenceConvLstmForward(p, { ...d, T: 1 }, x.subarray(0, d.B * d.Hh * d.Ww * d.C), h0, c0);
    expect(relError(carry.h, ref.hT)).toBeLessThan(FWD_TOL);
    expect(relError(carry.c, ref.cT)).toBeLessThan(FWD_TOL);
  });
});

describe('convLstmTaped shape errors', () => {
  it('names the tensor and both shapes', () => {
    tf.tidy(() => {
      const w = { wIh: tf.zeros([8, 1, 3, 3]) as tf.Tensor4D, wHh: tf.zeros([8, 2, 3, 3]) as tf.Tensor4D, bias: tf.zeros([8]) as tf.Tensor1D, wC: tf.zeros([3, 2, 4, 4]) as tf.Tensor4D };
      const init = { h: tf.zeros([1, 4, 4, 2]) as tf.Tensor4D, c: tf.zeros([1, 4, 4, 2]) as tf.Tensor4D };
      expect(() => convLstmTaped(w, tf.zeros([2, 1, 4, 4, 3]) as tf.Tensor5D, init)).toThrow(new ConvLstmShapeError('ConvLSTM layer expects weight_ih (x has C channels) [8,3,3,3], got [8,1,3,3]'));
      expect(() => convLstmTaped(w, tf.zeros([2, 1, 4, 5, 1]) as tf.Tensor5D, init)).toThrow(/weight_c \[3,2,4,5\], got \[3,2,4,4\]/);
    });
  });
});
