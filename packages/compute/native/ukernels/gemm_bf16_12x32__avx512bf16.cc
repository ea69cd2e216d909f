// bf16 GEMM microkernel for AVX512_BF16 (precision 'bf16'): a 12 x 32 tile of fp32 sums, 12 rows
// by two 16-float vectors, each step VDPBF16PS over a pair of k (products of bf16 inputs, exact in
// fp32, summed into fp32). Its panels are the drivers' fp32 panels converted in place by `pack`:
// for each pair of steps (p, p + 1), the rows' two values side by side as bf16, rounded to nearest
// even; an odd kc's last pair takes a zero for p + 1. Only the products' inputs are rounded: C, and
// whatever the caller keeps (weights, activations, optimiser state), stay fp32.
#include <immintrin.h>

#include <cstdint>

#include "gemm.h"

#if defined(MOCO_HAVE_BF16)
#pragma GCC push_options
#define MOCO_COMPILE_AVX512BF16
#include "../isa.h"

namespace mococxr {
namespace {

constexpr int MR = 12;
constexpr int NR = 32;

typedef uint32_t u32_alias __attribute__((may_alias));

// fp32 [kc][rows] (row r of step p at panel[p * rows + r]) to bf16 pairs [(kc + 1) / 2][rows][2],
// in place: pair q is written over bytes [q * rows * 4, (q + 1) * rows * 4) after its two source
// rows, which start at byte 2 q * rows * 4, were read, so no write reaches a row still to be read.
void pack(long kc, long rows, float* panel) {
  // Word 2j of the result is row p's column j, word 2j + 1 row p + 1's.
  alignas(64) static const uint16_t interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(interleave);
  for (long p = 0; p < kc; p += 2) {
    const float* r0 = panel + p * rows;
    const float* r1 = r0 + rows;
    uint16_t* out = reinterpret_cast<uint16_t*>(panel) + p * rows;  // pair p / 2 starts at word p * rows
    for (long j = 0; j < rows; j += 16) {
      const long w = rows - j < 16 ? rows - j : 16;
      const __mmask16 m = static_cast<__mmask16>((1u << w) - 1);
      const __m512 a = _mm512_maskz_loadu_ps(m, r0 + j);
      const __m512 b = p + 1 < kc ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
      // Words 0..15 row p, 16..31 row p + 1 (RNE), then interleaved into pairs.
      const __m512i v = _mm512_permutexvar_epi16(idx, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a)));
      _mm512_mask_storeu_epi16(out + 2 * j, static_cast<__mmask32>((uint64_t(1) << (2 * w)) - 1), v);
    }
  }
}

void ukernel(long kc, const float* __restrict A_, const float* __restrict B_, float* __restrict C, long ldc, int mr, int nr,
             bool acc) {
  const u32_alias* A = reinterpret_cast<const u32_alias*>(A_);  // row i's pair q at A[q * MR + i]
  const __m512i* B = reinterpret_cast<const __m512i*>(B_);      // pair q: columns 0..15 at B[2q], 16..31 at B[2q + 1]
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
  const long pairs = (kc + 1) / 2;
  for (long q = 0; q < pairs; q++) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(B + 2 * q));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(B + 2 * q + 1));
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(A[q * MR + i])));
      c0[i] = _mm512_dpbf16_ps(c0[i], a, b0);
      c1[i] = _mm512_dpbf16_ps(c1[i], a, b1);
    }
  }
  // Masked stores: nothing outside the mr x nr corner is read or written.
  const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xffff : (1u << nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    if (i >= mr) break;
    float* r = C + i * ldc;
    if (acc) {
      _mm512_mask_storeu_ps(r, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, r), c0[i]));
      _mm512_mask_storeu_ps(r + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, r + 16), c1[i]));
    } else {
      _mm512_mask_storeu_ps(r, m0, c0[i]);
      _mm512_mask_storeu_ps(r + 16, m1, c1[i]);
    }
  }
}

}  // namespace

const GemmUkernel gemm_bf16_12x32__avx512bf16 = {"gemm_bf16_12x32__avx512bf16", MR, NR, true, ukernel, pack};

}  // namespace mococxr

#pragma GCC pop_options
#endif
