{
  "targets": [
    {
      "target_name": "moco_cxr_native",
      "sources": [
        "native/addon.cc", "native/pool.cc", "native/cpu.cc", "native/gemm.cc", "native/winograd.cc", "native/elementwise.cc",
        "native/ukernels/gemm_f32_6x8__generic.cc", "native/ukernels/gemm_f32_6x16__avx2.cc", "native/ukernels/gemm_f32_12x32__avx512.cc",
        "native/ukernels/gemm_bf16_12x32__avx512bf16.cc"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-ffp-contract=fast", "-fno-math-errno", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
