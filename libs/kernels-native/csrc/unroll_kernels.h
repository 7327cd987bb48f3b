/*
 * Unroll native kernels: a plain C ABI over caller-owned float32 memory.
 *
 * Every array is row-major and time-major: row t·B + b of a [T·B, n] array is
 * stream b at step t. Gate blocks follow PyTorch's layout (rnn 1, lstm i,f,g,o,
 * gru r,z,n). These functions do NOT check lengths (raw pointers carry none): the
 * front end (the Node-API layer in addon.c, a C test harness, ...) must check
 * every buffer against unroll_*_len() before calling.
 *
 * Return value: 0 on success, a negative UNROLL_E* code otherwise (nothing is
 * written when the arguments are refused).
 */
#ifndef UNROLL_KERNELS_H
#define UNROLL_KERNELS_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  UNROLL_RNN_TANH = 0,
  UNROLL_RNN_RELU = 1,
  UNROLL_LSTM = 2,
  UNROLL_GRU_RESET_AFTER = 3,
  UNROLL_GRU_RESET_BEFORE = 4
} unroll_cell;

enum { UNROLL_OK = 0, UNROLL_EARG = -1, UNROLL_ENOMEM = -2 };

/* Gate blocks G of a cell (1, 4 or 3), or 0 for an unknown cell. */
int unroll_gate_count(int cell);
/* Floats of the `saved` buffer forward fills and backward reads. */
size_t unroll_saved_len(int cell, int T, int B, int H);

/* C = alpha·op(A)·op(B) + beta·C, row-major (cblas_sgemm). */
int unroll_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc);

/*
 * Forward of one window's recurrence.
 *   x_proj [T·B, G·H]  (X·W_ihᵀ + b_ih), w_hh [G·H, H], b_hh [G·H], h0 [B, H], c0 [B, H] (lstm, else NULL)
 * writes y [T·B, H], c [T·B, H] (lstm, else NULL) and saved [unroll_saved_len].
 */
int unroll_window_forward(int cell, int T, int B, int H, const float *x_proj, const float *w_hh, const float *b_hh,
                          const float *h0, const float *c0, float *y, float *c, float *saved);

/*
 * BPTT over one window, from forward's y, c, saved and the upstream gradients
 * dy [T·B, H], dh_t [B, H], dc_t [B, H] (lstm, else NULL). Writes
 *   dx_proj [T·B, G·H], dw_hh [G·H, H], db_hh [G·H], dh0 [B, H], dc0 [B, H] (lstm), flow [T] (‖∂L/∂h_t‖, double).
 */
int unroll_window_backward(int cell, int T, int B, int H, const float *w_hh, const float *h0, const float *c0,
                           const float *y, const float *c, const float *saved, const float *dy, const float *dh_t,
                           const float *dc_t, float *dx_proj, float *dw_hh, float *db_hh, float *dh0, float *dc0,
                           double *flow);

/*
 * Output head + softmax cross-entropy over N rows (unroll_head.cc): h [N, H], w [V, H],
 * b [V], targets [N] in [0, V). logits [N, V] is scratch (holds g·(y − onehot) after).
 * Writes dh [N, H], dw [V, H], db [V] (gradients of grad_scale·L) and *loss = L (the sum).
 */
int unroll_linear_xent(int N, int H, int V, const float *h, const float *w, const float *b, const int *targets,
                       float grad_scale, float *logits, float *dh, float *dw, float *db, double *loss);

/* One Adam step (torch.optim.Adam, L2 weight decay) over n parameters; step counts from 1. */
int unroll_adam(size_t n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps,
                float weight_decay, int step);

/*
 * The same Adam step with the arithmetic of libs/bptt's Adam (JavaScript): every
 * operation in double precision in the same order, m, v and p rounded to float32 when
 * stored, the bias corrections computed by the caller (step_size = lr / (1 − β1ᵗ),
 * sqrt_bc2 = √(1 − β2ᵗ): JavaScript's Math.pow need not round as libm's does). The
 * build forbids FMA contraction, so the results are those of the JavaScript loop,
 * bit for bit — a worker with the addon and one without stage the same parameters.
 */
int unroll_adam_exact(size_t n, float *p, const float *g, float *m, float *v, double step_size, double sqrt_bc2,
                      double beta1, double beta2, double eps, double weight_decay);

/* BLAS threads (openblas_set_num_threads); n ≤ 0 is refused. */
int unroll_set_num_threads(int n);
int unroll_get_num_threads(void);
/* OpenBLAS build description ("OpenBLAS 0.3.21 ... Haswell"), static storage. */
const char *unroll_blas_config(void);
/* 1 when the gate loops run their AVX2 variant on this CPU. */
int unroll_has_avx2(void);

#ifdef __cplusplus
}
#endif
#endif
