// The body of every f32 GEMM microkernel, written once with GCC vector extensions. A
// gemm_f32_<MR>x<NR>__<isa>.cc file selects its instruction set (isa.h), defines UK_NAME, UK_VBYTES
// (vector width in bytes), UK_MR (rows of the tile) and UK_FUSED, then includes this file: the
// tile is UK_MR rows by two vectors (NR = 2 * UK_VBYTES / 4 columns).
// Everything here has internal linkage, so no copy compiled for one set can stand in for another's.

#define UK_STR2(x) #x
#define UK_STR(x) UK_STR2(x)

namespace mococxr {
namespace {

constexpr int VL = UK_VBYTES / 4;
constexpr int MR = UK_MR;
constexpr int NR = 2 * VL;

typedef float vf __attribute__((vector_size(UK_VBYTES)));
typedef float vfu __attribute__((vector_size(UK_VBYTES), aligned(4), may_alias));

inline vf loadu(const float* p) { return *reinterpret_cast<const vfu*>(p); }
inline void storeu(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }

void ukernel(long kc, const float* __restrict A, const float* __restrict B, float* __restrict C, long ldc, int mr, int nr,
             bool acc) {
  vf c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    c0[i] = vf{};
    c1[i] = vf{};
  }
  for (long p = 0; p < kc; p++) {
    const vf b0 = *reinterpret_cast<const vf*>(B + p * NR);
    const vf b1 = *reinterpret_cast<const vf*>(B + p * NR + VL);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const float a = A[p * MR + i];
      c0[i] += a * b0;
      c1[i] += a * b1;
    }
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      float* r = C + i * ldc;
      if (acc) {
        storeu(r, loadu(r) + c0[i]);
        storeu(r + VL, loadu(r + VL) + c1[i]);
      } else {
        storeu(r, c0[i]);
        storeu(r + VL, c1[i]);
      }
    }
    return;
  }
  // A partial tile goes through a buffer, so nothing outside the mr x nr corner is touched.
  alignas(64) float t[MR * NR];
  for (int i = 0; i < MR; i++) {
    storeu(t + i * NR, c0[i]);
    storeu(t + i * NR + VL, c1[i]);
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) C[i * ldc + j] = (acc ? C[i * ldc + j] : 0.f) + t[i * NR + j];
}

}  // namespace

const GemmUkernel UK_NAME = {UK_STR(UK_NAME), MR, NR, UK_FUSED, ukernel, nullptr};

}  // namespace mococxr
