// The instruction sets beyond the target's baseline, and the CPU features each one's code is
// compiled for: the one place that names CPU features. cpu.cc checks every feature of a list at
// run time before dispatching to that set (a CPU with AVX-512F alone, or AVX2 without BMI2, would
// fault on the rest); a microkernel file defines MOCO_COMPILE_AVX512 or MOCO_COMPILE_AVX2 and
// includes this header after `#pragma GCC push_options` to compile for the same list.
// native-robust.test.ts checks that each pragma below and its list agree.
// No include guard: the lists are identical redefinitions, and the pragma is wanted once per file
// that asks for it.

#define MOCO_AVX512_FEATURES(X) X("avx512f") X("avx512vl") X("avx512bw") X("avx512dq") X("avx2") X("fma") X("bmi2")
#define MOCO_AVX2_FEATURES(X) X("avx2") X("fma") X("bmi2")

#if defined(MOCO_COMPILE_AVX512)
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2")
#elif defined(MOCO_COMPILE_AVX2)
#pragma GCC target("avx2,fma,bmi2")
#endif
