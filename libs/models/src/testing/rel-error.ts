/**
 * Relative error of `a` against the reference `b`, measured over the whole tensor:
 *   max_k |a_k − b_k| / max(max_k |b_k|, 1e-6)
 * The floor of 1e-6 keeps an all-zero reference from dividing by zero; it then
 * reports (roughly) an absolute error.
 */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`relError expects arrays of equal length, got ${a.length} and ${b.length}`);
  }
  let maxDiff = 0;
  let maxRef = 0;
  for (let k = 0; k < a.length; k++) {
    const diff = Math.abs(a[k] - b[k]);
    // NaN must not hide behind Math.max: report it as an infinite error.
    if (Number.isNaN(diff)) return Infinity;
    maxDiff = Math.max(maxDiff, diff);
    maxRef = Math.max(maxRef, Math.abs(b[k]));
  }
  return maxDiff / Math.max(maxRef, 1e-6);
}
