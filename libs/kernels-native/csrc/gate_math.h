/*
 * The element-wise gate loops, one row (one stream, H units) at a time.
 *
 * σ and tanh come from one exp (Cephes' single-precision polynomial, ≈1 ulp on
 * the clamped range) written so GCC vectorizes it: no libm call in the loop.
 *   σ(x) = 1 / (1 + e^{−x}),   tanh(x) = 1 − 2 / (1 + e^{2x})
 * Each row function is compiled twice (target_clones): an AVX2 body and the
 * baseline x86-64 body; the loader picks one per CPU at start-up. Both run the
 * same operations in the same order (the build sets -ffp-contract=off, so no
 * FMA contraction in one and not the other): results are bit-identical.
 */
#ifndef UNROLL_GATE_MATH_H
#define UNROLL_GATE_MATH_H
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(UNROLL_NO_DISPATCH)
#define UNROLL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define UNROLL_CLONES
#endif

namespace unroll {

inline bool has_avx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

__attribute__((always_inline)) inline float Exp(float x) {
  x = x > 88.3762626647949f ? 88.3762626647949f : x;
  x = x < -87.3365447504f ? -87.3365447504f : x;
  // n = round(x / ln 2) by the 1.5·2^23 trick (|x / ln 2| < 2^22 here).
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

__attribute__((always_inline)) inline float Sigmoid(float x) { return 1.0f / (1.0f + Exp(-x)); }
__attribute__((always_inline)) inline float Tanh(float x) { return 1.0f - 2.0f / (1.0f + Exp(2.0f * x)); }

UNROLL_CLONES inline void tanh_inplace(float *__restrict a, size_t n) {
  for (size_t k = 0; k < n; k++) a[k] = Tanh(a[k]);
}

/* LSTM forward: g holds the pre-activations [i f g o] in, the activations out. */
UNROLL_CLONES inline void lstm_gates_row(float *__restrict g, const float *__restrict c_prev, float *__restrict c_out,
                                         float *__restrict h_out, int H) {
  for (int j = 0; j < H; j++) {
    const float i = Sigmoid(g[j]);
    const float f = Sigmoid(g[H + j]);
    const float gg = Tanh(g[2 * H + j]);
    const float o = Sigmoid(g[3 * H + j]);
    const float ct = f * c_prev[j] + i * gg;
    g[j] = i;
    g[H + j] = f;
    g[2 * H + j] = gg;
    g[3 * H + j] = o;
    c_out[j] = ct;
    h_out[j] = o * Tanh(ct);
  }
}

/* LSTM BPTT for one row: dc carries δC_t in and δC_{t−1} out. */
UNROLL_CLONES inline void lstm_backward_row(const float *__restrict g, const float *__restrict ct,
                                            const float *__restrict c_prev, const float *__restrict dh,
                                            float *__restrict dc, float *__restrict d_pre, int H) {
  for (int j = 0; j < H; j++) {
    const float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
    const float tc = Tanh(ct[j]);
    const float d_out = dh[j];
    const float dcj = dc[j] + d_out * o * (1.0f - tc * tc);
    d_pre[j] = dcj * gg * i * (1.0f - i);
    d_pre[H + j] = dcj * c_prev[j] * f * (1.0f - f);
    d_pre[2 * H + j] = dcj * i * (1.0f - gg * gg);
    d_pre[3 * H + j] = d_out * tc * o * (1.0f - o);
    dc[j] = dcj * f;
  }
}

/* GRU r and z; aux = W_hn·h + b_hn (reset-after) or r ⊙ h (reset-before). */
UNROLL_CLONES inline void gru_rz_row(const float *__restrict x, const float *__restrict hp,
                                     const float *__restrict b_hh, const float *__restrict h, float *__restrict g,
                                     float *__restrict aux, int H, bool after) {
  for (int j = 0; j < H; j++) {
    const float r = Sigmoid(x[j] + hp[j] + b_hh[j]);
    const float z = Sigmoid(x[H + j] + hp[H + j] + b_hh[H + j]);
    g[j] = r;
    g[H + j] = z;
    aux[j] = r * h[j];
  }
  if (after)
    for (int j = 0; j < H; j++) aux[j] = hp[2 * H + j] + b_hh[2 * H + j];
}

/* GRU n and h_t. hn = (r⊙h)·W_hnᵀ for reset-before, unused for reset-after. */
UNROLL_CLONES inline void gru_n_row(const float *__restrict x, const float *__restrict hn, const float *__restrict b_hh,
                                    const float *__restrict aux, const float *__restrict h, float *__restrict g,
                                    float *__restrict y, int H, bool after) {
  if (after)
    for (int j = 0; j < H; j++) g[2 * H + j] = x[2 * H + j] + g[j] * aux[j];
  else
    for (int j = 0; j < H; j++) g[2 * H + j] = x[2 * H + j] + hn[j] + b_hh[2 * H + j];
  for (int j = 0; j < H; j++) {
    const float n = Tanh(g[2 * H + j]);
    const float z = g[H + j];
    g[2 * H + j] = n;
    y[j] = (1.0f - z) * n + z * h[j];
  }
}

/* δpre_n = δh ⊙ (1 − z) ⊙ (1 − n²), into the n block of dx. */
UNROLL_CLONES inline void gru_dn_row(const float *__restrict g, const float *__restrict dh, float *__restrict dx,
                                     int H) {
  for (int j = 0; j < H; j++) {
    const float z = g[H + j], n = g[2 * H + j];
    dx[2 * H + j] = dh[j] * (1.0f - z) * (1.0f - n * n);
  }
}

/*
 * GRU BPTT for one row, after gru_dn_row. Writes δpre_r, δpre_z into dx, the
 * direct part of δh_{t−1} into dh_prev (the products through W_hh are added by
 * the caller) and, for reset-after, δ(W_hn·h + b_hn) = δpre_n ⊙ r into d_hn.
 */
UNROLL_CLONES inline void gru_backward_row(const float *__restrict g, const float *__restrict aux,
                                           const float *__restrict h_prev, const float *__restrict dh,
                                           const float *__restrict d_rh, float *__restrict dx, float *__restrict d_hn,
                                           float *__restrict dh_prev, int H, bool after) {
  for (int j = 0; j < H; j++) {
    const float r = g[j], z = g[H + j], n = g[2 * H + j];
    const float hp = h_prev[j];
    const float dpn = dx[2 * H + j];
    const float dz = dh[j] * (hp - n);
    const float dr = after ? dpn * aux[j] : d_rh[j] * hp;
    dx[j] = dr * r * (1.0f - r);
    dx[H + j] = dz * z * (1.0f - z);
    dh_prev[j] = dh[j] * z + (after ? 0.0f : d_rh[j] * r);
  }
  if (after)
    for (int j = 0; j < H; j++) d_hn[j] = dx[2 * H + j] * g[j];
}

}  // namespace unroll
#endif
