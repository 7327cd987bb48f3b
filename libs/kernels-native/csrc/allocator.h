// glibc malloc thresholds for the Node-API layer (allocator.cc).
#pragma once
#include <node_api.h>

napi_value unroll_tune_malloc(napi_env env, napi_callback_info info);
napi_value unroll_malloc_is_mapped(napi_env env, napi_callback_info info);
