// f32 GEMM microkernel for AVX-512: a 12 x 32 tile, 12 rows by two 16-float vectors (24 of the
// 32 zmm registers hold it).
#include "gemm.h"

#if defined(__x86_64__)
#pragma GCC push_options
#define MOCO_COMPILE_AVX512
#include "../isa.h"
#define UK_NAME gemm_f32_12x32__avx512
#define UK_VBYTES 64
#define UK_MR 12
#define UK_FUSED true
#include "gemm_f32.inl"
#pragma GCC pop_options
#endif
