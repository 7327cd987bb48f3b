{
  # OpenBLAS: Debian's libopenblas-openmp-dev (preferred: OpenMP threads do not fight
  # a host's own) or libopenblas-dev; their cblas.h lives in a per-flavour directory.
  "targets": [
    {
      "target_name": "unroll_kernels",
      "sources": ["csrc/unroll_kernels.cc", "csrc/unroll_head.cc", "csrc/addon.cc", "csrc/allocator.cc"],
      "include_dirs": [
        "csrc",
        "<!@(node -p \"require('./scripts/openblas').includeDirs().join(' ')\")"
      ],
      "libraries": ["<!@(node -p \"require('./scripts/openblas').libs().join(' ')\")"],
      # No -ffast-math: IEEE semantics, NaNs propagate. -fno-trapping-math only lets
      # GCC vectorize the gate loops' clamps (we never read FP exception flags);
      # -ffp-contract=off keeps the AVX2 and baseline clones bit-identical (and Adam's
      # double arithmetic identical to JavaScript's). -fno-math-errno lets sqrt be the
      # vector instruction (nothing here reads errno; results do not change).
      "cflags_cc": ["-O3", "-std=c++17", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions", "-O2"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
