/*
 * The output head with softmax cross-entropy, and the Adam update — the rest of a
 * training step around the window kernels (same equations as
 * libs/models/src/linear-cross-entropy.ts and libs/bptt/src/optimizers/adam.ts):
 *
 *   z = h·Vᵀ + c,  y = softmax(z),  L = Σ_rows −ln y[d]      (the SUM over rows)
 *   ∂L/∂z = g·(y − onehot(d)),  ∂L/∂h = ∂L/∂z·V,  ∂L/∂V = ∂L/∂zᵀ·h,  ∂L/∂c = Σ_rows ∂L/∂z
 *
 *   Adam (torch.optim.Adam, L2 decay): g ← g + λp;  m ← β1m + (1−β1)g;  v ← β2v + (1−β2)g²;
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 */
#include <cblas.h>

#include <cmath>
#include <vector>

#include "gate_math.h"
#include "unroll_kernels.h"

extern "C" {

int unroll_linear_xent(int N, int H, int V, const float *h, const float *w, const float *b, const int *targets,
                       float grad_scale, float *logits, float *dh, float *dw, float *db, double *loss) {
  if (N <= 0 || H <= 0 || V <= 0 || !h || !w || !b || !targets || !logits || !dh || !dw || !db || !loss)
    return UNROLL_EARG;
  for (int r = 0; r < N; r++)
    if (targets[r] < 0 || targets[r] >= V) return UNROLL_EARG;
  for (int r = 0; r < N; r++)
    for (int j = 0; j < V; j++) logits[static_cast<size_t>(r) * V + j] = b[j];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, V, H, 1.0f, h, H, w, H, 1.0f, logits, V);
  double total = 0;
  std::vector<double> db_acc(V, 0.0);
  for (int r = 0; r < N; r++) {
    float *z = logits + static_cast<size_t>(r) * V;
    float max = z[0];
    for (int j = 1; j < V; j++) max = z[j] > max ? z[j] : max;
    double sum = 0;
    for (int j = 0; j < V; j++) sum += std::exp(static_cast<double>(z[j] - max));
    const double lse = max + std::log(sum);
    total += lse - z[targets[r]];
    for (int j = 0; j < V; j++) z[j] = grad_scale * static_cast<float>(std::exp(z[j] - lse));
    z[targets[r]] -= grad_scale;
    for (int j = 0; j < V; j++) db_acc[j] += z[j];
  }
  for (int j = 0; j < V; j++) db[j] = static_cast<float>(db_acc[j]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, H, V, 1.0f, logits, V, w, H, 0.0f, dh, H);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, H, N, 1.0f, logits, V, h, H, 0.0f, dw, H);
  *loss = total;
  return UNROLL_OK;
}

int unroll_adam(size_t n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps,
                float weight_decay, int step) {
  if (!p || !g || !m || !v || step < 1) return UNROLL_EARG;
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), step);
  const double sqrt_bc2 = std::sqrt(1.0 - std::pow(static_cast<double>(beta2), step));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_root = static_cast<float>(sqrt_bc2);
  for (size_t k = 0; k < n; k++) {
    const float gk = g[k] + weight_decay * p[k];
    m[k] = beta1 * m[k] + (1.0f - beta1) * gk;
    v[k] = beta2 * v[k] + (1.0f - beta2) * gk * gk;
    p[k] -= step_size * m[k] / (std::sqrt(v[k]) / bc2_root + eps);
  }
  return UNROLL_OK;
}

namespace {

// Two bodies (AVX2, baseline) with the same operations in the same order: bit-identical (gate_math.h).
UNROLL_CLONES void adam_exact_loop(size_t n, float *__restrict p, const float *__restrict g, float *__restrict m,
                                   float *__restrict v, double step_size, double sqrt_bc2, double b1, double b2,
                                   double eps, double wd) {
  const double c1 = 1.0 - b1;
  const double c2 = 1.0 - b2;
  for (size_t k = 0; k < n; k++) {
    const double d = static_cast<double>(g[k]) + wd * static_cast<double>(p[k]);
    const float mk = static_cast<float>(b1 * static_cast<double>(m[k]) + c1 * d);
    const float vk = static_cast<float>(b2 * static_cast<double>(v[k]) + c2 * d * d);
    m[k] = mk;
    v[k] = vk;
    p[k] = static_cast<float>(static_cast<double>(p[k]) -
                              (step_size * static_cast<double>(mk)) / (__builtin_sqrt(static_cast<double>(vk)) / sqrt_bc2 + eps));
  }
}

}  // namespace

int unroll_adam_exact(size_t n, float *p, const float *g, float *m, float *v, double step_size, double sqrt_bc2,
                      double beta1, double beta2, double eps, double weight_decay) {
  if (!p || !g || !m || !v) return UNROLL_EARG;
  adam_exact_loop(n, p, g, m, v, step_size, sqrt_bc2, beta1, beta2, eps, weight_decay);
  return UNROLL_OK;
}

}  // extern "C"
