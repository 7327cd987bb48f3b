/*
 * glibc malloc thresholds, set at run time (the environment's MALLOC_*_ variables
 * are only read when the process starts).
 *
 * Why: a message of ~1 MiB is allocated fresh by grpc-js for every frame it sends
 * and every message it reassembles. glibc serves a block above M_MMAP_THRESHOLD
 * with its own mmap and unmaps it on free, so each such buffer costs page faults on
 * first touch and an munmap; raising M_MMAP_THRESHOLD (which also stops glibc's
 * dynamic adjustment) and M_TRIM_THRESHOLD lets freed megabytes be reused from the
 * heap instead (bench/allreduce/RESULTS.md).
 *
 * tuneMalloc(mmapThreshold, trimThreshold) → { glibc, mmap, trim }: whether this is
 * glibc, and whether each mallopt call was accepted (glibc refuses an mmap
 * threshold above its own maximum).
 * mallocIsMapped(bytes) → true/false: whether a malloc of `bytes` right now is
 * served by its own mmap (mallinfo2().hblks grows while it is held); null where
 * that cannot be told (not glibc ≥ 2.33). For tests and diagnostics.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "allocator.h"

namespace {

bool get_bytes(napi_env env, napi_value v, double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  if (napi_get_value_double(env, v, out) != napi_ok) return false;
  return *out >= 0 && *out <= 2147483647.0 && *out == static_cast<double>(static_cast<long long>(*out));
}

napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

}  // namespace

napi_value unroll_tune_malloc(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  double mmap_threshold = 0, trim_threshold = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 2 || !get_bytes(env, argv[0], &mmap_threshold) ||
      !get_bytes(env, argv[1], &trim_threshold)) {
    napi_throw_range_error(env, "ERR_UNROLL_ARG", "tuneMalloc expects (mmapThreshold, trimThreshold): integers in 0..2^31-1");
    return nullptr;
  }
  bool glibc = false, mmap_ok = false, trim_ok = false;
#if defined(__GLIBC__)
  glibc = true;
  mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) == 1;
  trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold)) == 1;
#endif
  napi_value obj;
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "glibc", boolean(env, glibc));
  napi_set_named_property(env, obj, "mmap", boolean(env, mmap_ok));
  napi_set_named_property(env, obj, "trim", boolean(env, trim_ok));
  return obj;
}

napi_value unroll_malloc_is_mapped(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 1 || !get_bytes(env, argv[0], &bytes) || bytes < 1) {
    napi_throw_range_error(env, "ERR_UNROLL_ARG", "mallocIsMapped expects a byte count in 1..2^31-1");
    return nullptr;
  }
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
  const struct mallinfo2 before = mallinfo2();
  void *p = std::malloc(static_cast<size_t>(bytes));
  const struct mallinfo2 held = mallinfo2();
  std::free(p);
  if (p == nullptr) {
    napi_throw_error(env, "ERR_UNROLL_ALLOC", "mallocIsMapped: malloc failed");
    return nullptr;
  }
  return boolean(env, held.hblks > before.hblks);
#else
  napi_value null;
  napi_get_null(env, &null);
  return null;
#endif
}
