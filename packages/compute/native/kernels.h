// The native kernels, compiled once: the GEMM drivers (gemm.cc: convolutions and BatchMatMul,
// packed around a microkernel's register tile) and the memory-bound loops (elementwise.cc:
// BatchNorm, optimiser steps, max-pool gradient). Only the microkernels (ukernels/) are compiled
// per instruction set, so the memory-bound kernels give the same bits whichever set runs the GEMMs.
//
// Layouts are tfjs': activations NHWC, filters HWIO ([kh][kw][ci][co]), all float32, row-major.
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
#include "ukernels/gemm.h"

namespace mococxr {

// One 2-D convolution, NHWC input [n, h, w, ci], HWIO filter [kh, kw, ci, co], output [n, oh, ow, co];
// pt / pl are the top / left padding (bottom / right follow from oh / ow).
struct ConvShape {
  int n, h, w, ci, kh, kw, co, oh, ow, sh, sw, pt, pl;
};

// ---- GEMM drivers (gemm.cc): every product goes through `uk`'s register tile ----

void conv2d(const GemmUkernel& uk, const float* x, const float* w, float* y, const ConvShape& s, int threads);
void conv2d_grad_input(const GemmUkernel& uk, const float* dy, const float* w, float* dx, const ConvShape& s, int threads);
void conv2d_grad_filter(const GemmUkernel& uk, const float* x, const float* dy, float* dw, const ConvShape& s, int threads);
// c[b] = op(a[b]) op(b[b]) for b < batch; a batch stride of 0 broadcasts that operand.
void matmul(const GemmUkernel& uk, const float* a, const float* b, float* c, long batch, long m, long k, long n, bool ta,
            bool tb, long stride_a, long stride_b, int threads);

// Packing shared by the drivers (gemm.cc). pack_b: B (k x n, element (p, j) at b[p * rs + j * cs])
// as the microkernel's NR-column panels, KC rows a block. rows_to_strip: mr rows of kc values (row i
// at src + i * rs) as one MR-row A strip, dst[p * MR + i].
void pack_b(long NR, const float* b, long rs, long cs, long k, long n, float* out, int threads, GemmPackFn cvt);
void rows_to_strip(const float* src, long rs, long mr, long kc, float* dst, long MR);
// C (m x n, row stride ldc) = A B: A row-major (row stride lda), B already packed by pack_b.
void gemm_dense_a(const GemmUkernel& uk, long m, long n, long k, const float* a, long lda, const float* bp, float* c, long ldc, int threads);

// ---- Winograd F(2x2, 3x3) (winograd.cc) ----

// Whether 3x3 stride-1 convolutions and both their gradients may take the Winograd path ('auto',
// the default) or always the direct GEMM ('direct'). Products on the bf16 microkernel stay direct.
enum class ConvAlgorithm { Auto, Direct };
extern ConvAlgorithm conv_algorithm;
// Whether conv2d and conv2d_grad_input (winograd_runs) or conv2d_grad_filter (winograd_filter_runs)
// take the Winograd path for this shape on this microkernel: every rule is in winograd.cc.
bool winograd_runs(const GemmUkernel& uk, const ConvShape& s);
bool winograd_filter_runs(const GemmUkernel& uk, const ConvShape& s);
// y = conv2d(x, g), 3x3 stride 1; `flip` reads g from w rotated 180 degrees with ci and co swapped
// (the input gradient as a convolution of dy).
void conv2d_winograd(const GemmUkernel& uk, const float* x, const float* w, bool flip, float* y, const ConvShape& s, int threads);
void conv2d_grad_filter_winograd(const GemmUkernel& uk, const float* x, const float* dy, float* dw, const ConvShape& s, int threads);

// ---- Memory-bound kernels (elementwise.cc) ----

void batchnorm_train(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var, float* rstd,
                     long rows, long c, float eps, bool relu, int threads);
void batchnorm_train_grad(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                          const float* y, float* dx, float* dgamma, float* dbeta, long rows, long c, int threads);
void optimizer_step(int kind, const float* p, const float* s, const float* t, const float* g, float* p2, float* s2,
                    float* t2, long n, const double* h, int threads);
void maxpool_grad(const float* x, const float* dy, float* dx, const ConvShape& s, int threads);
void relu(const float* x, float* y, long n, int threads);
void relu_grad(const float* dy, const float* x, float* dx, long n, int threads);
// Every variable of one optimiser step: p[i], s[i], t[i] (slots; empty when the kind has none) and
// g[i] hold n[i] elements each; p, s and t are updated in place.
struct OptimizerVars {
  std::vector<float*> p, s, t;
  std::vector<const float*> g;
  std::vector<long> n;
};
void optimizer_step_in_place(int kind, const OptimizerVars& v, const double* h, int threads);

// ---- Shared by both ----

inline long round_up(long a, long b) { return (a + b - 1) / b * b; }
inline long cdiv(long a, long b) { return (a + b - 1) / b; }

// Runs f(tid, item) for every item in [0, items), each once, on up to `threads` threads taking
// items from a shared counter (a thread the OS does not schedule in time leaves its share to others).
template <class F>
void for_items(long items, int threads, F f) {
  if (items <= 0) return;
  std::atomic<long> next{0};
  pool().run(items > 1 ? static_cast<int>(std::min<long>(threads, items)) : 1, [&](int tid, int) {
    for (long it; (it = next.fetch_add(1, std::memory_order_relaxed)) < items;) f(tid, it);
  });
}

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

}  // namespace mococxr
