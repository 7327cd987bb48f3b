/**
 * Matrix products for the fused window ops.
 *
 * The element-wise gate arithmetic of a window runs on plain Float32Arrays; every
 * matrix product goes through this small interface so that the backend (tfjs on
 * cpu / wasm / tensorflow, or a native BLAS kernel) does the heavy lifting. All
 * matrices are row-major.
 *
 * On wasm, BatchMatMul reaches XNNPACK only when neither transpose flag is set, so
 * operands that need a transpose are transposed once, explicitly, when prepared.
 */
import { tf } from './tf';

/** A matrix kept on the backend for repeated products (a weight, for one window). */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
}

export interface Gemm {
  /** Keeps `data` ([rows, cols]) on the backend; with `transpose`, keeps its transpose ([cols, rows]). */
  matrix(data: Float32Array, rows: number, cols: number, transpose?: boolean): Matrix;
  /** C[m, n] = A[m, k] · B[k, n], where B is a prepared matrix. Returns a fresh array. */
  mul(a: Float32Array, m: number, b: Matrix): Float32Array;
  /**
   * C[m, n] = A[m, k] · B[k, n] written into `out` (with `accumulate`, added to what `out`
   * holds). Optional: a Gemm that can write in place (native BLAS) spares the caller a fresh
   * result array per product; callers fall back to `mul` without it (gemmInto, conv/).
   */
  mulInto?(a: Float32Array, m: number, b: Matrix, out: Float32Array, accumulate?: boolean): void;
  /** C[m, n] = Aᵀ · B with A[k, m] and B[k, n]: the weight gradient of a whole window in one product. */
  mulTN(a: Float32Array, k: number, m: number, b: Float32Array, n: number): Float32Array;
  /** Releases a prepared matrix. */
  release(matrix: Matrix): void;
}

class TfMatrix implements Matrix {
  constructor(
    readonly tensor: tf.Tensor2D,
    readonly rows: number,
    readonly cols: number,
  ) {}
}

function readAndDispose(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}

/** Gemm on whatever tfjs backend is active. */
export class TfGemm implements Gemm {
  matrix(data: Float32Array, rows: number, cols: number, transpose = false): Matrix {
    if (data.length !== rows * cols) throw new RangeError(`matrix expects ${rows}×${cols} values, got ${data.length}`);
    if (!transpose) return new TfMatrix(tf.tensor2d(data, [rows, cols]), rows, cols);
    const t = tf.tidy(() => tf.transpose(tf.tensor2d(data, [rows, cols])) as tf.Tensor2D);
    return new TfMatrix(t, cols, rows);
  }

  mul(a: Float32Array, m: number, b: Matrix): Float32Array {
    const bt = (b as TfMatrix).tensor;
    if (a.length !== m * b.rows) throw new RangeError(`mul expects A of ${m}×${b.rows}, got ${a.length} values`);
    return readAndDispose(tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, b.rows]), bt)));
  }

  mulTN(a: Float32Array, k: number, m: number, b: Float32Array, n: number): Float32Array {
    if (a.length !== k * m || b.length !== k * n) throw new RangeError(`mulTN expects A ${k}×${m} and B ${k}×${n}`);
    return readAndDispose(tf.tidy(() => tf.matMul(tf.transpose(tf.tensor2d(a, [k, m])), tf.tensor2d(b, [k, n]))));
  }

  release(matrix: Matrix): void {
    (matrix as TfMatrix).tensor.dispose();
  }
}
