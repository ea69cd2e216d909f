// f32 GEMM microkernel for AVX2 + FMA: a 6 x 16 tile, 6 rows by two 8-float vectors (12 of the
// 16 ymm registers hold it).
#include "gemm.h"

#if defined(__x86_64__)
#pragma GCC push_options
#define MOCO_COMPILE_AVX2
#include "../isa.h"
#define UK_NAME gemm_f32_6x16__avx2
#define UK_VBYTES 32
#define UK_MR 6
#define UK_FUSED true
#include "gemm_f32.inl"
#pragma GCC pop_options
#endif
