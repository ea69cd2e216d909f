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

// Converts one packed fp32 strip, [kc][rows] as above, in place to the panel layout `fn` reads
// (rows is MR for an A strip, NR for a B strip). The drivers call it after packing each strip.
typedef void (*GemmPackFn)(long kc, long rows, float* panel);

struct GemmUkernel {
  const char* name;  // gemm_<f32|bf16>_<MR>x<NR>__<isa>
  int mr, nr;        // the register tile
  bool fused;        // one rounding per step (see above)
  GemmUkernelFn fn;
  GemmPackFn pack;   // null: fn reads the fp32 panels as packed
};

extern const GemmUkernel gemm_f32_6x8__generic;  // the target's baseline: SSE2 on x86-64, NEON on arm64
#if defined(__x86_64__)
extern const GemmUkernel gemm_f32_6x16__avx2;
extern const GemmUkernel gemm_f32_12x32__avx512;
#endif

// precision 'bf16': products of bf16-rounded inputs summed in fp32, its panels bf16 pairs (see its
// file). Built where the compiler knows AVX512_BF16 (GCC 10, clang 14 on); an older one builds
// the addon without it, and precision 'bf16' then runs fp32 with a note.
#if defined(__x86_64__) && (defined(__clang__) ? __clang_major__ >= 14 : (defined(__GNUC__) && __GNUC__ >= 10))
#define MOCO_HAVE_BF16 1
extern const GemmUkernel gemm_bf16_12x32__avx512bf16;
#endif

}  // namespace mococxr
