{
  "targets": [
    {
      "target_name": "moco_cxr_native",
      "sources": ["native/addon.cc", "native/pool.cc", "native/isa_avx512.cc", "native/isa_avx2.cc", "native/isa_generic.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-ffp-contract=fast", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
