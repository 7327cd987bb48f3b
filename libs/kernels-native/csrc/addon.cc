/*
 * Node-API front end of the kernels (unroll_kernels.h): argument and length
 * checks at the boundary, then a call on the typed arrays' own memory.
 *
 * Every buffer is checked — type Float32Array (flow: Float64Array) and exact
 * element count for the dimensions given — before any kernel runs, so a wrong
 * shape is a thrown RangeError, never a write out of bounds.
 *
 * The *Async variants run the same kernel on the libuv thread pool and return a
 * Promise. They hold a reference to every buffer until the Promise settles; the
 * caller must neither read the outputs nor write the inputs before then.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "allocator.h"
#include "unroll_kernels.h"

namespace {

struct Failed {};  // a JS exception is pending

void check(napi_env env, napi_status status) {
  if (status == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, nullptr, "unroll-kernels: Node-API call failed");
  throw Failed{};
}

[[noreturn]] void throw_range(napi_env env, const std::string &msg) {
  napi_throw_range_error(env, "ERR_UNROLL_SHAPE", msg.c_str());
  throw Failed{};
}

[[noreturn]] void throw_type(napi_env env, const std::string &msg) {
  napi_throw_type_error(env, "ERR_UNROLL_ARG", msg.c_str());
  throw Failed{};
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t expected, const char *fn) {
  size_t argc = expected;
  std::vector<napi_value> argv(expected);
  check(env, napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr));
  if (argc != expected) throw_type(env, std::string(fn) + " expects " + std::to_string(expected) + " arguments, got " + std::to_string(argc));
  return argv;
}

int int_arg(napi_env env, napi_value v, const char *fn, const char *name, int min) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t));
  double d = 0;
  if (t == napi_number) check(env, napi_get_value_double(env, v, &d));
  if (t != napi_number || d != static_cast<double>(static_cast<long long>(d)) || d < min || d > 2147483647.0)
    throw_range(env, std::string(fn) + ": " + name + " must be an integer ≥ " + std::to_string(min));
  return static_cast<int>(d);
}

double number_arg(napi_env env, napi_value v, const char *fn, const char *name) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw_type(env, std::string(fn) + ": " + name + " must be a number");
  return d;
}

bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined;
}

/* A typed array argument: its data pointer, after the type and length checks. */
template <typename T>
T *array_arg(napi_env env, napi_value v, const char *fn, const char *name, size_t need, bool optional = false) {
  const napi_typedarray_type want = sizeof(T) == 4 ? napi_float32_array : napi_float64_array;
  const char *want_name = sizeof(T) == 4 ? "Float32Array" : "Float64Array";
  if (optional && is_nullish(env, v)) return nullptr;
  bool is_ta = false;
  check(env, napi_is_typedarray(env, v, &is_ta));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *data = nullptr;
  if (is_ta) check(env, napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (!is_ta || type != want) throw_type(env, std::string(fn) + ": " + name + " must be a " + want_name);
  if (length != need)
    throw_range(env, std::string(fn) + ": " + name + " must hold " + std::to_string(need) + " values, got " + std::to_string(length));
  return static_cast<T *>(data);
}

/* Smallest length of a row-major [rows, cols] view with leading dimension ld. */
size_t view_len(int rows, int cols, int ld) { return rows == 0 || cols == 0 ? 0 : static_cast<size_t>(rows - 1) * ld + cols; }

float *gemm_operand(napi_env env, napi_value v, const char *name, int rows, int cols, int ld) {
  if (ld < cols || ld < 1) throw_range(env, std::string("sgemm: leading dimension of ") + name + " (" + std::to_string(ld) + ") is below its " + std::to_string(cols) + " columns");
  bool is_ta = false;
  check(env, napi_is_typedarray(env, v, &is_ta));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *data = nullptr;
  if (is_ta) check(env, napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (!is_ta || type != napi_float32_array) throw_type(env, std::string("sgemm: ") + name + " must be a Float32Array");
  if (length < view_len(rows, cols, ld))
    throw_range(env, std::string("sgemm: ") + name + " must hold at least " + std::to_string(view_len(rows, cols, ld)) + " values for [" + std::to_string(rows) + ", " + std::to_string(cols) + "] with ld " + std::to_string(ld) + ", got " + std::to_string(length));
  return static_cast<float *>(data);
}

/* ------------------------------------------------------ window arguments --- */

struct Dims {
  int cell, T, B, H, G;
  size_t n() const { return static_cast<size_t>(T) * B * H; }
  size_t bh() const { return static_cast<size_t>(B) * H; }
};

Dims dims_args(napi_env env, const std::vector<napi_value> &a, const char *fn) {
  Dims d{};
  d.cell = int_arg(env, a[0], fn, "cell", 0);
  d.G = unroll_gate_count(d.cell);
  if (d.G == 0) throw_range(env, std::string(fn) + ": unknown cell code " + std::to_string(d.cell));
  d.T = int_arg(env, a[1], fn, "T", 1);
  d.B = int_arg(env, a[2], fn, "B", 1);
  d.H = int_arg(env, a[3], fn, "H", 1);
  if (static_cast<double>(d.T) * d.B * d.H * (d.G + 1) >= 2147483647.0)
    throw_range(env, std::string(fn) + ": T·B·H·(G+1) must stay below 2^31");
  return d;
}

/* One window call: the checked pointers, and (async) the references keeping them alive. */
struct WindowCall {
  bool backward = false;
  Dims d{};
  const float *x_proj = nullptr, *w_hh = nullptr, *b_hh = nullptr, *h0 = nullptr, *c0 = nullptr;
  float *y = nullptr, *c = nullptr, *saved = nullptr;
  const float *dy = nullptr, *dh_t = nullptr, *dc_t = nullptr;
  float *dx_proj = nullptr, *dw_hh = nullptr, *db_hh = nullptr, *dh0 = nullptr, *dc0 = nullptr;
  double *flow = nullptr;
  int status = 0;
  std::vector<napi_ref> refs;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;

  void run() {
    status = backward ? unroll_window_backward(d.cell, d.T, d.B, d.H, w_hh, h0, c0, y, c, saved, dy, dh_t, dc_t, dx_proj, dw_hh, db_hh, dh0, dc0, flow)
                      : unroll_window_forward(d.cell, d.T, d.B, d.H, x_proj, w_hh, b_hh, h0, c0, y, c, saved);
  }
};

const size_t kForwardArgs = 12;   // cell, T, B, H, xProj, wHh, bHh, h0, c0, y, c, saved
const size_t kBackwardArgs = 19;  // cell, T, B, H, wHh, h0, c0, y, c, saved, dY, dHT, dCT, dXProj, dWHh, dBHh, dH0, dC0, flow

void parse_forward(napi_env env, const std::vector<napi_value> &a, const char *fn, WindowCall &w) {
  const Dims d = dims_args(env, a, fn);
  const bool lstm = d.cell == UNROLL_LSTM;
  const size_t saved = unroll_saved_len(d.cell, d.T, d.B, d.H);
  w.d = d;
  w.x_proj = array_arg<float>(env, a[4], fn, "xProj [T·B, G·H]", d.n() * d.G);
  w.w_hh = array_arg<float>(env, a[5], fn, "wHh [G·H, H]", static_cast<size_t>(d.G) * d.H * d.H);
  w.b_hh = array_arg<float>(env, a[6], fn, "bHh [G·H]", static_cast<size_t>(d.G) * d.H);
  w.h0 = array_arg<float>(env, a[7], fn, "h0 [B, H]", d.bh());
  w.c0 = lstm ? array_arg<float>(env, a[8], fn, "c0 [B, H]", d.bh()) : nullptr;
  w.y = array_arg<float>(env, a[9], fn, "y [T·B, H]", d.n());
  w.c = lstm ? array_arg<float>(env, a[10], fn, "c [T·B, H]", d.n()) : nullptr;
  w.saved = saved ? array_arg<float>(env, a[11], fn, "saved", saved) : nullptr;
}

void parse_backward(napi_env env, const std::vector<napi_value> &a, const char *fn, WindowCall &w) {
  const Dims d = dims_args(env, a, fn);
  const bool lstm = d.cell == UNROLL_LSTM;
  const size_t saved = unroll_saved_len(d.cell, d.T, d.B, d.H);
  w.backward = true;
  w.d = d;
  w.w_hh = array_arg<float>(env, a[4], fn, "wHh [G·H, H]", static_cast<size_t>(d.G) * d.H * d.H);
  w.h0 = array_arg<float>(env, a[5], fn, "h0 [B, H]", d.bh());
  w.c0 = lstm ? array_arg<float>(env, a[6], fn, "c0 [B, H]", d.bh()) : nullptr;
  w.y = array_arg<float>(env, a[7], fn, "y [T·B, H]", d.n());
  w.c = lstm ? array_arg<float>(env, a[8], fn, "c [T·B, H]", d.n()) : nullptr;
  w.saved = saved ? array_arg<float>(env, a[9], fn, "saved", saved) : nullptr;
  w.dy = array_arg<float>(env, a[10], fn, "dY [T·B, H]", d.n());
  w.dh_t = array_arg<float>(env, a[11], fn, "dHT [B, H]", d.bh());
  w.dc_t = lstm ? array_arg<float>(env, a[12], fn, "dCT [B, H]", d.bh()) : nullptr;
  w.dx_proj = array_arg<float>(env, a[13], fn, "dXProj [T·B, G·H]", d.n() * d.G);
  w.dw_hh = array_arg<float>(env, a[14], fn, "dWHh [G·H, H]", static_cast<size_t>(d.G) * d.H * d.H);
  w.db_hh = array_arg<float>(env, a[15], fn, "dBHh [G·H]", static_cast<size_t>(d.G) * d.H);
  w.dh0 = array_arg<float>(env, a[16], fn, "dH0 [B, H]", d.bh());
  w.dc0 = lstm ? array_arg<float>(env, a[17], fn, "dC0 [B, H]", d.bh()) : nullptr;
  w.flow = array_arg<double>(env, a[18], fn, "flow [T]", static_cast<size_t>(d.T));
}

void throw_status(napi_env env, const char *fn, int status) {
  std::string msg = std::string(fn) + " failed: " + (status == UNROLL_ENOMEM ? "out of memory" : "arguments refused by the kernel");
  napi_throw_error(env, "ERR_UNROLL_KERNEL", msg.c_str());
  throw Failed{};
}

template <napi_value (*F)(napi_env, napi_callback_info)>
napi_value guarded(napi_env env, napi_callback_info info) {
  try {
    return F(env, info);
  } catch (const Failed &) {
    return nullptr;
  }
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value window_sync(napi_env env, napi_callback_info info, bool backward) {
  const char *fn = backward ? "windowBackward" : "windowForward";
  const auto a = args(env, info, backward ? kBackwardArgs : kForwardArgs, fn);
  WindowCall w;
  if (backward) parse_backward(env, a, fn, w);
  else parse_forward(env, a, fn, w);
  w.run();
  if (w.status != UNROLL_OK) throw_status(env, fn, w.status);
  return undefined(env);
}

napi_value window_forward(napi_env env, napi_callback_info info) { return window_sync(env, info, false); }
napi_value window_backward(napi_env env, napi_callback_info info) { return window_sync(env, info, true); }

void async_execute(napi_env, void *data) { static_cast<WindowCall *>(data)->run(); }

void async_complete(napi_env env, napi_status status, void *data) {
  auto *w = static_cast<WindowCall *>(data);
  for (napi_ref r : w->refs) napi_delete_reference(env, r);
  napi_value result = undefined(env);
  if (status != napi_ok || w->status != UNROLL_OK) {
    napi_value msg, err;
    const std::string text = std::string(w->backward ? "windowBackwardAsync" : "windowForwardAsync") + " failed: " +
                             (status != napi_ok ? "cancelled" : w->status == UNROLL_ENOMEM ? "out of memory" : "arguments refused by the kernel");
    napi_create_string_utf8(env, text.c_str(), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, w->deferred, err);
  } else {
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->work);
  delete w;
}

napi_value window_async(napi_env env, napi_callback_info info, bool backward) {
  const char *fn = backward ? "windowBackwardAsync" : "windowForwardAsync";
  const auto a = args(env, info, backward ? kBackwardArgs : kForwardArgs, fn);
  auto *w = new WindowCall();
  try {
    if (backward) parse_backward(env, a, fn, *w);
    else parse_forward(env, a, fn, *w);
    for (size_t k = 4; k < a.size(); k++) {
      if (is_nullish(env, a[k])) continue;
      napi_ref r;
      check(env, napi_create_reference(env, a[k], 1, &r));
      w->refs.push_back(r);
    }
    napi_value promise, name;
    check(env, napi_create_promise(env, &w->deferred, &promise));
    check(env, napi_create_string_utf8(env, fn, NAPI_AUTO_LENGTH, &name));
    check(env, napi_create_async_work(env, nullptr, name, async_execute, async_complete, w, &w->work));
    check(env, napi_queue_async_work(env, w->work));
    return promise;
  } catch (const Failed &) {
    for (napi_ref r : w->refs) napi_delete_reference(env, r);
    delete w;  // a created-but-unqueued promise is simply dropped with the exception
    throw;
  }
}

napi_value window_forward_async(napi_env env, napi_callback_info info) { return window_async(env, info, false); }
napi_value window_backward_async(napi_env env, napi_callback_info info) { return window_async(env, info, true); }

/* sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) */
napi_value sgemm(napi_env env, napi_callback_info info) {
  const char *fn = "sgemm";
  const auto a = args(env, info, 13, fn);
  bool ta = false, tb = false;
  if (napi_get_value_bool(env, a[0], &ta) != napi_ok || napi_get_value_bool(env, a[1], &tb) != napi_ok)
    throw_type(env, "sgemm: transA and transB must be booleans");
  const int m = int_arg(env, a[2], fn, "m", 0), n = int_arg(env, a[3], fn, "n", 0), k = int_arg(env, a[4], fn, "k", 0);
  const float alpha = static_cast<float>(number_arg(env, a[5], fn, "alpha"));
  const int lda = int_arg(env, a[7], fn, "lda", 1), ldb = int_arg(env, a[9], fn, "ldb", 1), ldc = int_arg(env, a[12], fn, "ldc", 1);
  const float beta = static_cast<float>(number_arg(env, a[10], fn, "beta"));
  const float *pa = gemm_operand(env, a[6], "A", ta ? k : m, ta ? m : k, lda);
  const float *pb = gemm_operand(env, a[8], "B", tb ? n : k, tb ? k : n, ldb);
  float *pc = gemm_operand(env, a[11], "C", m, n, ldc);
  const int status = unroll_sgemm(ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
  if (status != UNROLL_OK) throw_status(env, fn, status);
  return undefined(env);
}

/* linearXent(N, H, V, h, w, b, targets, gradScale, logits, dh, dw, db) → loss sum */
napi_value linear_xent(napi_env env, napi_callback_info info) {
  const char *fn = "linearXent";
  const auto a = args(env, info, 12, fn);
  const int N = int_arg(env, a[0], fn, "N", 1), H = int_arg(env, a[1], fn, "H", 1), V = int_arg(env, a[2], fn, "V", 1);
  if (static_cast<double>(N) * (H > V ? H : V) >= 2147483647.0) throw_range(env, "linearXent: N·max(H, V) must stay below 2^31");
  const size_t nh = static_cast<size_t>(N) * H, nv = static_cast<size_t>(N) * V, vh = static_cast<size_t>(V) * H;
  const float *h = array_arg<float>(env, a[3], fn, "h [N, H]", nh);
  const float *w = array_arg<float>(env, a[4], fn, "w [V, H]", vh);
  const float *b = array_arg<float>(env, a[5], fn, "b [V]", V);
  bool is_ta = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *data = nullptr;
  check(env, napi_is_typedarray(env, a[6], &is_ta));
  if (is_ta) check(env, napi_get_typedarray_info(env, a[6], &type, &length, &data, nullptr, nullptr));
  if (!is_ta || type != napi_int32_array) throw_type(env, "linearXent: targets must be an Int32Array");
  if (length != static_cast<size_t>(N)) throw_range(env, "linearXent: targets must hold " + std::to_string(N) + " values, got " + std::to_string(length));
  const int *targets = static_cast<const int *>(data);
  for (int r = 0; r < N; r++)
    if (targets[r] < 0 || targets[r] >= V) throw_range(env, "linearXent: target " + std::to_string(targets[r]) + " at row " + std::to_string(r) + " is outside [0, " + std::to_string(V) + ")");
  const float scale = static_cast<float>(number_arg(env, a[7], fn, "gradScale"));
  float *logits = array_arg<float>(env, a[8], fn, "logits [N, V]", nv);
  float *dh = array_arg<float>(env, a[9], fn, "dh [N, H]", nh);
  float *dw = array_arg<float>(env, a[10], fn, "dw [V, H]", vh);
  float *db = array_arg<float>(env, a[11], fn, "db [V]", V);
  double loss = 0;
  const int status = unroll_linear_xent(N, H, V, h, w, b, targets, scale, logits, dh, dw, db, &loss);
  if (status != UNROLL_OK) throw_status(env, fn, status);
  napi_value v;
  check(env, napi_create_double(env, loss, &v));
  return v;
}

/* adam(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step) */
// Adam's p, g, m, v (arguments 0–3): Float32Arrays of p's length.
struct AdamArrays {
  size_t n;
  float *p;
  const float *g;
  float *m;
  float *v;
};

AdamArrays adam_arrays(napi_env env, const std::vector<napi_value> &a, const char *fn) {
  bool is_ta = false;
  napi_typedarray_type type = napi_int8_array;
  size_t n = 0;
  void *data = nullptr;
  check(env, napi_is_typedarray(env, a[0], &is_ta));
  if (is_ta) check(env, napi_get_typedarray_info(env, a[0], &type, &n, &data, nullptr, nullptr));
  if (!is_ta || type != napi_float32_array) throw_type(env, std::string(fn) + ": p must be a Float32Array");
  return {n, static_cast<float *>(data), array_arg<float>(env, a[1], fn, "g (as p)", n), array_arg<float>(env, a[2], fn, "m (as p)", n),
          array_arg<float>(env, a[3], fn, "v (as p)", n)};
}

napi_value adam(napi_env env, napi_callback_info info) {
  const char *fn = "adam";
  const auto a = args(env, info, 10, fn);
  const auto [n, p, g, m, v] = adam_arrays(env, a, fn);
  const float lr = static_cast<float>(number_arg(env, a[4], fn, "lr"));
  const float b1 = static_cast<float>(number_arg(env, a[5], fn, "beta1"));
  const float b2 = static_cast<float>(number_arg(env, a[6], fn, "beta2"));
  const float eps = static_cast<float>(number_arg(env, a[7], fn, "eps"));
  const float wd = static_cast<float>(number_arg(env, a[8], fn, "weightDecay"));
  const int step = int_arg(env, a[9], fn, "step", 1);
  const int status = unroll_adam(n, p, g, m, v, lr, b1, b2, eps, wd, step);
  if (status != UNROLL_OK) throw_status(env, fn, status);
  return undefined(env);
}

napi_value adam_exact(napi_env env, napi_callback_info info) {
  const char *fn = "adamExact";
  const auto a = args(env, info, 10, fn);
  const auto [n, p, g, m, v] = adam_arrays(env, a, fn);
  const int status = unroll_adam_exact(n, p, g, m, v, number_arg(env, a[4], fn, "stepSize"), number_arg(env, a[5], fn, "sqrtBc2"),
                                       number_arg(env, a[6], fn, "beta1"), number_arg(env, a[7], fn, "beta2"),
                                       number_arg(env, a[8], fn, "eps"), number_arg(env, a[9], fn, "weightDecay"));
  if (status != UNROLL_OK) throw_status(env, fn, status);
  return undefined(env);
}

napi_value set_num_threads(napi_env env, napi_callback_info info) {
  const auto a = args(env, info, 1, "setNumThreads");
  unroll_set_num_threads(int_arg(env, a[0], "setNumThreads", "threads", 1));
  return undefined(env);
}

napi_value get_num_threads(napi_env env, napi_callback_info) {
  napi_value v;
  check(env, napi_create_int32(env, unroll_get_num_threads(), &v));
  return v;
}

napi_value saved_length(napi_env env, napi_callback_info info) {
  const auto a = args(env, info, 4, "savedLength");
  const Dims d = dims_args(env, a, "savedLength");
  napi_value v;
  check(env, napi_create_double(env, static_cast<double>(unroll_saved_len(d.cell, d.T, d.B, d.H)), &v));
  return v;
}

napi_value info_fn(napi_env env, napi_callback_info) {
  napi_value obj, blas, avx2;
  check(env, napi_create_object(env, &obj));
  check(env, napi_create_string_utf8(env, unroll_blas_config(), NAPI_AUTO_LENGTH, &blas));
  check(env, napi_get_boolean(env, unroll_has_avx2() != 0, &avx2));
  check(env, napi_set_named_property(env, obj, "blas", blas));
  check(env, napi_set_named_property(env, obj, "avx2", avx2));
  return obj;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"sgemm", nullptr, guarded<sgemm>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"windowForward", nullptr, guarded<window_forward>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"windowBackward", nullptr, guarded<window_backward>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"windowForwardAsync", nullptr, guarded<window_forward_async>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"windowBackwardAsync", nullptr, guarded<window_backward_async>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"linearXent", nullptr, guarded<linear_xent>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adam", nullptr, guarded<adam>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamExact", nullptr, guarded<adam_exact>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setNumThreads", nullptr, guarded<set_num_threads>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getNumThreads", nullptr, guarded<get_num_threads>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"savedLength", nullptr, guarded<saved_length>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, guarded<info_fn>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"tuneMalloc", nullptr, unroll_tune_malloc, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"mallocIsMapped", nullptr, unroll_malloc_is_mapped, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
