// f32 GEMM microkernel for the target's baseline vector ISA (SSE2 on x86-64, NEON on arm64), runs
// on every CPU: a 6 x 8 tile, 6 rows by two 4-float vectors.
#include "gemm.h"

#define UK_NAME gemm_f32_6x8__generic
#define UK_VBYTES 16
#define UK_MR 6
// x86's baseline has no FMA; elsewhere (NEON) -ffp-contract=fast fuses each step.
#if defined(__x86_64__) || defined(__i386__)
#define UK_FUSED false
#else
#define UK_FUSED true
#endif
#include "gemm_f32.inl"
