/**
 * Gemm on the native kernels' cblas_sgemm, on the Float32Arrays' own memory.
 *
 * A prepared matrix is the caller's array itself plus a transpose flag (BLAS
 * transposes while it multiplies): `matrix` copies nothing and `release` has
 * nothing to free. The caller must not change the array while the matrix is in
 * use — the window ops hold it for one window and never write it.
 */
import type { NativeKernels } from '@unroll/kernels-native';
import type { Gemm, Matrix } from './gemm';

class NativeMatrix implements Matrix {
  constructor(
    /** The stored array, [storedRows, storedCols] row-major. */
    readonly data: Float32Array,
    readonly storedRows: number,
    readonly storedCols: number,
    readonly transpose: boolean,
  ) {}

  get rows(): number {
    return this.transpose ? this.storedCols : this.storedRows;
  }

  get cols(): number {
    return this.transpose ? this.storedRows : this.storedCols;
  }
}

export class NativeGemm implements Gemm {
  constructor(private readonly kernels: NativeKernels) {}

  matrix(data: Float32Array, rows: number, cols: number, transpose = false): Matrix {
    if (data.length !== rows * cols) throw new RangeError(`matrix expects ${rows}×${cols} values, got ${data.length}`);
    return new NativeMatrix(data, rows, cols, transpose);
  }

  mul(a: Float32Array, m: number, b: Matrix): Float32Array {
    const nb = b as NativeMatrix;
    const k = nb.rows;
    const n = nb.cols;
    if (a.length !== m * k) throw new RangeError(`mul expects A of ${m}×${k}, got ${a.length} values`);
    const c = new Float32Array(m * n);
    this.kernels.binding.sgemm(false, nb.transpose, m, n, k, 1, a, k, nb.data, nb.storedCols, 0, c, n);
    return c;
  }

  mulInto(a: Float32Array, m: number, b: Matrix, out: Float32Array, accumulate = false): void {
    const nb = b as NativeMatrix;
    const k = nb.rows;
    const n = nb.cols;
    if (a.length !== m * k || out.length !== m * n) throw new RangeError(`mulInto expects A of ${m}×${k} and C of ${m}×${n}, got ${a.length} and ${out.length} values`);
    this.kernels.binding.sgemm(false, nb.transpose, m, n, k, 1, a, k, nb.data, nb.storedCols, accumulate ? 1 : 0, out, n);
  }

  mulTN(a: Float32Array, k: number, m: number, b: Float32Array, n: number): Float32Array {
    if (a.length !== k * m || b.length !== k * n) throw new RangeError(`mulTN expects A ${k}×${m} and B ${k}×${n}`);
    const c = new Float32Array(m * n);
    this.kernels.binding.sgemm(true, false, m, n, k, 1, a, m, b, n, 0, c, n);
    return c;
  }

  release(_matrix: Matrix): void {
    // nothing to free: a NativeMatrix is a view of the caller's array
  }
}
