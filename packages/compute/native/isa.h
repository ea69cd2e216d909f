// The instruction sets beyond the target's baseline and the CPU features each one's code is
// compiled for, each feature named once: the `#pragma GCC target` below is built from the same list
// that cpu.cc tests at run time before dispatching to that set (a CPU with AVX-512F alone, or AVX2
// without BMI2, would fault on the rest). A microkernel file defines MOCO_COMPILE_AVX512 or
// MOCO_COMPILE_AVX2 and includes this header after `#pragma GCC push_options`.
// No include guard: the lists are identical redefinitions, and the pragma is wanted once per file
// that asks for it.

#define MOCO_AVX512_FEATURES(X) X("avx512f") X("avx512vl") X("avx512bw") X("avx512dq") X("avx2") X("fma") X("bmi2")
#define MOCO_AVX2_FEATURES(X) X("avx2") X("fma") X("bmi2")
// precision 'bf16' (ukernels/gemm_bf16_*): the AVX-512 set plus VDPBF16PS and VCVTNE2PS2BF16.
#define MOCO_AVX512BF16_FEATURES(X) MOCO_AVX512_FEATURES(X) X("avx512bf16")

// "avx2" "," "fma" "," ... : adjacent literals join into the one comma-separated target string.
#define MOCO_TARGET_ITEM(f) f ","
#define MOCO_PRAGMA_STR(x) #x
#define MOCO_PRAGMA(x) _Pragma(MOCO_PRAGMA_STR(x))

#if defined(MOCO_COMPILE_AVX512)
MOCO_PRAGMA(GCC target(MOCO_AVX512_FEATURES(MOCO_TARGET_ITEM)))
#elif defined(MOCO_COMPILE_AVX512BF16)
MOCO_PRAGMA(GCC target(MOCO_AVX512BF16_FEATURES(MOCO_TARGET_ITEM)))
#elif defined(MOCO_COMPILE_AVX2)
MOCO_PRAGMA(GCC target(MOCO_AVX2_FEATURES(MOCO_TARGET_ITEM)))
#endif
