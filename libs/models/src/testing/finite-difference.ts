/**
 * Central finite differences: the gradient of a scalar function f at v,
 *   ∂f/∂v_k ≈ (f(v + eps·e_k) − f(v − eps·e_k)) / (2·eps).
 * Truncation error is O(eps²); with float64 and eps = 1e-6 the rounding error
 * (≈ 1e-16·|f| / eps) dominates and stays near 1e-10 relative — far below the
 * 1e-6 the reference tests ask for.
 *
 * `v` is not modified: f is called on a perturbed copy.
 * @defaultValue eps = 1e-6
 */
export function finiteDifference(f: (v: Float64Array) => number, v: Float64Array, eps = 1e-6): Float64Array {
  const w = Float64Array.from(v);
  const grad = new Float64Array(v.length);
  for (let k = 0; k < v.length; k++) {
    w[k] = v[k] + eps;
    const plus = f(w);
    w[k] = v[k] - eps;
    const minus = f(w);
    w[k] = v[k];
    grad[k] = (plus - minus) / (2 * eps);
  }
  return grad;
}
