/*
 * Fused window forward / BPTT backward for rnn (tanh, relu), lstm and gru
 * (reset-after, reset-before) on OpenBLAS. The equations are those of
 * libs/models/src/cells/<cell>.ts (one per cell, written out in each file's doc
 * comment); this file follows the same names and the same order of operations.
 *
 * Per window:
 *   forward:  one recurrent product per step (h_{t−1}·W_hhᵀ, accumulated into
 *             the gate pre-activations with beta = 1), then the gate loop;
 *   backward: the reverse loop, one product per step for δh_{t−1}, then the
 *             recurrent weight gradient of the whole window as two products
 *             (step 0 against h0, steps 1.. against y[0..T−2]) — no copy of
 *             h_{t−1} is ever made.
 *
 * `saved`: lstm [T·B, 4H] post-activation gates; gru [T·B, 3H] gates followed
 * by aux [T·B, H] (reset-after: W_hn·h_{t−1} + b_hn; reset-before: r ⊙ h_{t−1});
 * rnn nothing (y is enough).
 */
#include "unroll_kernels.h"
#include "gate_math.h"

#include <cblas.h>

#include <cmath>
#include <new>
#include <vector>

extern "C" {
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
}

namespace {

using unroll::Sigmoid;
using unroll::Tanh;

inline bool valid_cell(int cell) { return cell >= UNROLL_RNN_TANH && cell <= UNROLL_GRU_RESET_BEFORE; }

bool valid_dims(int cell, int T, int B, int H) {
  if (!valid_cell(cell) || T <= 0 || B <= 0 || H <= 0) return false;
  // Every index BLAS sees is an int: keep the largest array below 2^31 elements.
  const double largest = static_cast<double>(T) * B * H * (unroll_gate_count(cell) + 1);
  return largest < 2147483647.0;
}

/* gemm of row-major [m, k]·[k, n] (or transposed operands), thin over cblas. */
inline void gemm(bool ta, bool tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b,
              ldb, beta, c, ldc);
}

/* Rows of pre = x_proj[t] + b_hh, the starting point for the recurrent product. */
inline void bias_rows(float *dst, const float *x_proj, const float *b_hh, int B, int cols) {
  for (int b = 0; b < B; b++) {
    const float *x = x_proj + static_cast<size_t>(b) * cols;
    float *d = dst + static_cast<size_t>(b) * cols;
    for (int j = 0; j < cols; j++) d[j] = x[j] + b_hh[j];
  }
}

/* dW (+)= Σ_t δᵀ_t · h_{t−1} with h_{−1} = h0 and h_{t−1} = y[t−1]: two products, no gather. */
void weight_grad(const float *delta, int ld_delta, int rows_out, const float *h0, const float *y, int T, int B, int H,
                 float *dw, int ldw) {
  gemm(true, false, rows_out, H, B, delta, ld_delta, h0, H, 0.0f, dw, ldw);
  if (T > 1)
    gemm(true, false, rows_out, H, (T - 1) * B, delta + static_cast<size_t>(B) * ld_delta, ld_delta, y, H, 1.0f, dw,
         ldw);
}

/* db[j] = Σ_rows δ[row, j] for a block of `cols` columns with leading dimension ld. */
void column_sums(const float *delta, int rows, int cols, int ld, float *db) {
  std::vector<double> acc(cols, 0.0);
  for (int r = 0; r < rows; r++) {
    const float *d = delta + static_cast<size_t>(r) * ld;
    for (int j = 0; j < cols; j++) acc[j] += d[j];
  }
  for (int j = 0; j < cols; j++) db[j] = static_cast<float>(acc[j]);
}

double norm(const float *a, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += static_cast<double>(a[k]) * a[k];
  return std::sqrt(s);
}

/* ---------------------------------------------------------------- rnn --- */

void rnn_forward(bool relu, int T, int B, int H, const float *x_proj, const float *w_hh, const float *b_hh,
                 const float *h0, float *y) {
  const size_t n = static_cast<size_t>(B) * H;
  const float *h = h0;
  for (int t = 0; t < T; t++) {
    float *yt = y + t * n;
    bias_rows(yt, x_proj + t * n, b_hh, B, H);
    gemm(false, true, B, H, H, h, H, w_hh, H, 1.0f, yt, H);
    if (relu)
      for (size_t k = 0; k < n; k++) yt[k] = yt[k] > 0.0f ? yt[k] : 0.0f;
    else
      unroll::tanh_inplace(yt, n);
    h = yt;
  }
}

void rnn_backward(bool relu, int T, int B, int H, const float *w_hh, const float *h0, const float *y, const float *dy,
                  const float *dh_t, float *d_pre, float *dw_hh, float *db_hh, float *dh0, double *flow) {
  const size_t n = static_cast<size_t>(B) * H;
  std::vector<float> dh_next(dh_t, dh_t + n);
  for (int t = T - 1; t >= 0; t--) {
    const float *yt = y + t * n;
    const float *dyt = dy + t * n;
    float *dp = d_pre + t * n;
    for (size_t k = 0; k < n; k++) dp[k] = dyt[k] + dh_next[k];
    flow[t] = norm(dp, n);
    if (relu)
      for (size_t k = 0; k < n; k++) dp[k] = yt[k] > 0.0f ? dp[k] : 0.0f;
    else
      for (size_t k = 0; k < n; k++) dp[k] *= 1.0f - yt[k] * yt[k];
    gemm(false, false, B, H, H, dp, H, w_hh, H, 0.0f, dh_next.data(), H);
  }
  for (size_t k = 0; k < n; k++) dh0[k] = dh_next[k];
  weight_grad(d_pre, H, H, h0, y, T, B, H, dw_hh, H);
  column_sums(d_pre, T * B, H, H, db_hh);
}

/* --------------------------------------------------------------- lstm --- */

void lstm_forward(int T, int B, int H, const float *x_proj, const float *w_hh, const float *b_hh, const float *h0,
                  const float *c0, float *y, float *c, float *gates) {
  const size_t n = static_cast<size_t>(B) * H;
  const int G = 4 * H;
  const float *h = h0;
  const float *c_prev = c0;
  for (int t = 0; t < T; t++) {
    float *gt = gates + t * n * 4;
    bias_rows(gt, x_proj + t * n * 4, b_hh, B, G);
    gemm(false, true, B, G, H, h, H, w_hh, H, 1.0f, gt, G);
    float *ct = c + t * n;
    float *yt = y + t * n;
    for (int b = 0; b < B; b++)
      unroll::lstm_gates_row(gt + static_cast<size_t>(b) * G, c_prev + static_cast<size_t>(b) * H,
                             ct + static_cast<size_t>(b) * H, yt + static_cast<size_t>(b) * H, H);
    h = yt;
    c_prev = ct;
  }
}

void lstm_backward(int T, int B, int H, const float *w_hh, const float *h0, const float *c0, const float *y,
                   const float *c, const float *gates, const float *dy, const float *dh_t, const float *dc_t,
                   float *d_pre, float *dw_hh, float *db_hh, float *dh0, float *dc0, double *flow) {
  const size_t n = static_cast<size_t>(B) * H;
  const int G = 4 * H;
  std::vector<float> dh(n), dh_next(dh_t, dh_t + n), dc(dc_t, dc_t + n);
  for (int t = T - 1; t >= 0; t--) {
    const float *dyt = dy + t * n;
    for (size_t k = 0; k < n; k++) dh[k] = dyt[k] + dh_next[k];
    flow[t] = norm(dh.data(), n);
    const float *c_prev = t == 0 ? c0 : c + (t - 1) * n;
    const float *ct = c + t * n;
    for (int b = 0; b < B; b++) {
      const size_t s = static_cast<size_t>(b) * H;
      const size_t row = (static_cast<size_t>(t) * B + b) * G;
      unroll::lstm_backward_row(gates + row, ct + s, c_prev + s, dh.data() + s, dc.data() + s, d_pre + row, H);
    }
    gemm(false, false, B, H, G, d_pre + t * n * 4, G, w_hh, H, 0.0f, dh_next.data(), H);
  }
  for (size_t k = 0; k < n; k++) {
    dh0[k] = dh_next[k];
    dc0[k] = dc[k];
  }
  weight_grad(d_pre, G, G, h0, y, T, B, H, dw_hh, H);
  column_sums(d_pre, T * B, G, G, db_hh);
}

/* ---------------------------------------------------------------- gru --- */

void gru_forward(bool after, int T, int B, int H, const float *x_proj, const float *w_hh, const float *b_hh,
                 const float *h0, float *y, float *gates, float *aux) {
  const size_t n = static_cast<size_t>(B) * H;
  const int G = 3 * H;
  const int hcols = after ? G : 2 * H;
  const float *w_hn = w_hh + static_cast<size_t>(2) * H * H;
  std::vector<float> hp(static_cast<size_t>(B) * hcols), hn(after ? 0 : n);
  const float *h = h0;
  for (int t = 0; t < T; t++) {
    const float *xt = x_proj + t * n * 3;
    float *gt = gates + t * n * 3;
    float *at = aux + t * n;
    float *yt = y + t * n;
    // reset-after: h·W_hhᵀ for all three blocks; reset-before: h·W_h[rz]ᵀ, then (r⊙h)·W_hnᵀ.
    gemm(false, true, B, hcols, H, h, H, w_hh, H, 0.0f, hp.data(), hcols);
    for (int b = 0; b < B; b++) {
      const size_t s = static_cast<size_t>(b) * H;
      unroll::gru_rz_row(xt + s * 3, hp.data() + static_cast<size_t>(b) * hcols, b_hh, h + s, gt + s * 3, at + s, H,
                         after);
    }
    if (!after) gemm(false, true, B, H, H, at, H, w_hn, H, 0.0f, hn.data(), H);
    for (int b = 0; b < B; b++) {
      const size_t s = static_cast<size_t>(b) * H;
      unroll::gru_n_row(xt + s * 3, after ? nullptr : hn.data() + s, b_hh, at + s, h + s, gt + s * 3, yt + s, H, after);
    }
    h = yt;
  }
}

void gru_backward(bool after, int T, int B, int H, const float *w_hh, const float *h0, const float *y,
                  const float *gates, const float *aux, const float *dy, const float *dh_t, float *dx, float *dw_hh,
                  float *db_hh, float *dh0, double *flow) {
  const size_t n = static_cast<size_t>(B) * H;
  const int G = 3 * H;
  const float *w_hn = w_hh + static_cast<size_t>(2) * H * H;
  std::vector<float> dh(n), dh_next(dh_t, dh_t + n), d_rh(after ? 0 : n);
  // reset-after: δ(W_hn·h + b_hn) = δpre_n ⊙ r for every step (its weight gradient needs them all).
  std::vector<float> d_hn(after ? static_cast<size_t>(T) * n : 0);
  for (int t = T - 1; t >= 0; t--) {
    const float *dyt = dy + t * n;
    for (size_t k = 0; k < n; k++) dh[k] = dyt[k] + dh_next[k];
    flow[t] = norm(dh.data(), n);
    const float *h_prev = t == 0 ? h0 : y + (t - 1) * n;
    const float *gt = gates + t * n * 3;
    const float *at = aux + t * n;
    float *dxt = dx + t * n * 3;
    // δpre_n first: reset-before needs δ(r⊙h) = δpre_n·W_hn before δr.
    for (int b = 0; b < B; b++) {
      const size_t s = static_cast<size_t>(b) * H;
      unroll::gru_dn_row(gt + s * 3, dh.data() + s, dxt + s * 3, H);
    }
    if (!after) gemm(false, false, B, H, H, dxt + 2 * H, G, w_hn, H, 0.0f, d_rh.data(), H);
    for (int b = 0; b < B; b++) {
      const size_t s = static_cast<size_t>(b) * H;
      unroll::gru_backward_row(gt + s * 3, at + s, h_prev + s, dh.data() + s, after ? nullptr : d_rh.data() + s,
                               dxt + s * 3, after ? d_hn.data() + t * n + s : nullptr, dh_next.data() + s, H, after);
    }
    // δh_{t−1} += [δpre_r, δpre_z]·W_h[rz] (+ δ(W_hn·h)·W_hn for reset-after)
    gemm(false, false, B, H, 2 * H, dxt, G, w_hh, H, 1.0f, dh_next.data(), H);
    if (after) gemm(false, false, B, H, H, d_hn.data() + t * n, H, w_hn, H, 1.0f, dh_next.data(), H);
  }
  for (size_t k = 0; k < n; k++) dh0[k] = dh_next[k];
  weight_grad(dx, G, 2 * H, h0, y, T, B, H, dw_hh, H);
  column_sums(dx, T * B, 2 * H, G, db_hh);
  float *dw_hn = dw_hh + static_cast<size_t>(2) * H * H;
  if (after) {
    weight_grad(d_hn.data(), H, H, h0, y, T, B, H, dw_hn, H);
    column_sums(d_hn.data(), T * B, H, H, db_hh + 2 * H);
  } else {
    gemm(true, false, H, H, T * B, dx + 2 * H, G, aux, H, 0.0f, dw_hn, H);
    column_sums(dx + 2 * H, T * B, H, G, db_hh + 2 * H);
  }
}

}  // namespace

extern "C" {

int unroll_gate_count(int cell) {
  switch (cell) {
    case UNROLL_RNN_TANH:
    case UNROLL_RNN_RELU:
      return 1;
    case UNROLL_LSTM:
      return 4;
    case UNROLL_GRU_RESET_AFTER:
    case UNROLL_GRU_RESET_BEFORE:
      return 3;
    default:
      return 0;
  }
}

size_t unroll_saved_len(int cell, int T, int B, int H) {
  if (!valid_dims(cell, T, B, H)) return 0;
  const size_t n = static_cast<size_t>(T) * B * H;
  switch (cell) {
    case UNROLL_LSTM:
      return 4 * n;
    case UNROLL_GRU_RESET_AFTER:
    case UNROLL_GRU_RESET_BEFORE:
      return 4 * n;
    default:
      return 0;
  }
}

int unroll_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
  if (m < 0 || n < 0 || k < 0 || !a || !b || !c) return UNROLL_EARG;
  if (ldc < (n > 1 ? n : 1) || lda < ((trans_a ? m : k) > 1 ? (trans_a ? m : k) : 1) ||
      ldb < ((trans_b ? k : n) > 1 ? (trans_b ? k : n) : 1))
    return UNROLL_EARG;
  if (m == 0 || n == 0) return UNROLL_OK;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
  return UNROLL_OK;
}

int unroll_window_forward(int cell, int T, int B, int H, const float *x_proj, const float *w_hh, const float *b_hh,
                          const float *h0, const float *c0, float *y, float *c, float *saved) {
  if (!valid_dims(cell, T, B, H) || !x_proj || !w_hh || !b_hh || !h0 || !y) return UNROLL_EARG;
  const size_t n = static_cast<size_t>(T) * B * H;
  try {
    switch (cell) {
      case UNROLL_RNN_TANH:
      case UNROLL_RNN_RELU:
        rnn_forward(cell == UNROLL_RNN_RELU, T, B, H, x_proj, w_hh, b_hh, h0, y);
        return UNROLL_OK;
      case UNROLL_LSTM:
        if (!c0 || !c || !saved) return UNROLL_EARG;
        lstm_forward(T, B, H, x_proj, w_hh, b_hh, h0, c0, y, c, saved);
        return UNROLL_OK;
      default:
        if (!saved) return UNROLL_EARG;
        gru_forward(cell == UNROLL_GRU_RESET_AFTER, T, B, H, x_proj, w_hh, b_hh, h0, y, saved, saved + 3 * n);
        return UNROLL_OK;
    }
  } catch (const std::bad_alloc &) {
    return UNROLL_ENOMEM;
  }
}

int unroll_window_backward(int cell, int T, int B, int H, const float *w_hh, const float *h0, const float *c0,
                           const float *y, const float *c, const float *saved, const float *dy, const float *dh_t,
                           const float *dc_t, float *dx_proj, float *dw_hh, float *db_hh, float *dh0, float *dc0,
                           double *flow) {
  if (!valid_dims(cell, T, B, H) || !w_hh || !h0 || !y || !dy || !dh_t || !dx_proj || !dw_hh || !db_hh || !dh0 ||
      !flow)
    return UNROLL_EARG;
  const size_t n = static_cast<size_t>(T) * B * H;
  try {
    switch (cell) {
      case UNROLL_RNN_TANH:
      case UNROLL_RNN_RELU:
        rnn_backward(cell == UNROLL_RNN_RELU, T, B, H, w_hh, h0, y, dy, dh_t, dx_proj, dw_hh, db_hh, dh0, flow);
        return UNROLL_OK;
      case UNROLL_LSTM:
        if (!c0 || !c || !saved || !dc_t || !dc0) return UNROLL_EARG;
        lstm_backward(T, B, H, w_hh, h0, c0, y, c, saved, dy, dh_t, dc_t, dx_proj, dw_hh, db_hh, dh0, dc0, flow);
        return UNROLL_OK;
      default:
        if (!saved) return UNROLL_EARG;
        gru_backward(cell == UNROLL_GRU_RESET_AFTER, T, B, H, w_hh, h0, y, saved, saved + 3 * n, dy, dh_t, dx_proj,
                     dw_hh, db_hh, dh0, flow);
        return UNROLL_OK;
    }
  } catch (const std::bad_alloc &) {
    return UNROLL_ENOMEM;
  }
}

int unroll_set_num_threads(int n) {
  if (n <= 0) return UNROLL_EARG;
  openblas_set_num_threads(n);
  return UNROLL_OK;
}

int unroll_get_num_threads(void) { return openblas_get_num_threads(); }

const char *unroll_blas_config(void) { return openblas_get_config(); }

int unroll_has_avx2(void) { return unroll::has_avx2() ? 1 : 0; }

}  // extern "C"
