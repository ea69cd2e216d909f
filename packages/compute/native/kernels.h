// What every instruction-set build of the kernels exports (see kernels.inl).
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "pool.h"

namespace mococxr {

// One 2-D convolution, NHWC input [n, h, w, ci], HWIO filter [kh, kw, ci, co], output [n, oh, ow, co];
// pt / pl are the top / left padding (bottom / right follow from oh / ow).
struct ConvShape {
  int n, h, w, ci, kh, kw, co, oh, ow, sh, sw, pt, pl;
};

struct KernelTable {
  const char* isa;
  void (*conv2d)(const float* x, const float* w, float* y, const ConvShape& s, int threads);
  void (*conv2d_grad_input)(const float* dy, const float* w, float* dx, const ConvShape& s, int threads);
  void (*conv2d_grad_filter)(const float* x, const float* dy, float* dw, const ConvShape& s, int threads);
  void (*matmul)(const float* a, const float* b, float* c, long batch, long m, long k, long n, bool ta, bool tb,
                 long stride_a, long stride_b, int threads);
  void (*batchnorm_train)(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var,
                          float* rstd, long rows, long c, float eps, bool relu, int threads);
  void (*batchnorm_train_grad)(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                               const float* y, float* dx, float* dgamma, float* dbeta, long rows, long c, int threads);
  void (*optimizer_step)(int kind, const float* p, const float* s, const float* t, const float* g, float* p2, float* s2,
                         float* t2, long n, const double* h, int threads);
  void (*maxpool_grad)(const float* x, const float* dy, float* dx, const ConvShape& s, int threads);
};

// Grow-only, 64-byte aligned scratch; one per thread and use. A failed allocation throws
// std::bad_alloc and leaves it empty, so a later call allocates again instead of returning null.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      p = nullptr;
      n = 0;
      if (need > (SIZE_MAX - 63) / sizeof(float)) throw std::bad_alloc();
      const size_t bytes = (need * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      n = bytes / sizeof(float);
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};

const KernelTable* kernels_avx512();   // null where not compiled (non-x86)
const KernelTable* kernels_avx2();     // null where not compiled (non-x86)
const KernelTable* kernels_generic();  // always there: the baseline ISA of the target (SSE2, NEON, ...)

}  // namespace mococxr
