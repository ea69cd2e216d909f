// The f32 GEMM microkernels: the only code compiled once per instruction set. Each computes one
// register tile, C[mr x nr] (+)= A B over kc, and is named by its tile and set as XNNPACK names
// its ukernels: gemm_f32_<MR>x<NR>__<isa>. The drivers around them (gemm.cc) are compiled once.
// This header holds declarations only, so nothing from it is compiled under a microkernel's target.
#pragma once

namespace mococxr {

// a: kc x MR, packed p-major (row i of step p at a[p * MR + i]); rows mr..MR are computed but never
//    stored, so they may hold anything.
// b: kc x NR, packed (column j of step p at b[p * NR + j]), 64-byte aligned; columns nr..NR likewise.
// c: row stride ldc; only its mr x nr corner is written: stored (acc false) or added to (acc true).
// Each element is summed over p in order, one step at a time: c += a * b, rounded once per step
// when `fused` (an FMA), else the product and the sum each rounded.
typedef void (*GemmUkernelFn)(long kc, const float* a, const float* b, float* c, long ldc, int mr, int nr, bool acc);

struct GemmUkernel {
  const char* name;  // gemm_f32_<MR>x<NR>__<isa>
  int mr, nr;        // the register tile
  bool fused;        // one rounding per step (see above)
  GemmUkernelFn fn;
};

extern const GemmUkernel gemm_f32_6x8__generic;  // the target's baseline: SSE2 on x86-64, NEON on arm64
#if defined(__x86_64__)
extern const GemmUkernel gemm_f32_6x16__avx2;
extern const GemmUkernel gemm_f32_12x32__avx512;
#endif

}  // namespace mococxr
