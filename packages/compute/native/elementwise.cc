// The memory-bound kernels, compiled once for every instruction set (the target's baseline): one
// pass each over the data, split over threads. Their bits are the same whichever set runs the GEMMs.
#include "kernels.h"

namespace mococxr {
namespace {

// Runs f(begin, end) over [0, n) in chunks, one per thread, when n is worth splitting.
// Chunks of 16k elements, so idle threads take over from descheduled ones.
constexpr long CHUNK = 16384;

template <class F>
void parallel_range(long n, int threads, F f) {
  for_items(cdiv(n, CHUNK), threads, [&](int, long it) { f(it * CHUNK, std::min(n, (it + 1) * CHUNK)); });
}

// Row chunks of the per-channel reductions, from the shape alone (at most MAX_PARTS of them): each
// chunk sums its rows into its own partial, and the partials are added in chunk order, so the
// result has the same bits at every thread count and however the threads took the chunks.
constexpr long MAX_PARTS = 256;

inline long reduce_chunk(long rows, long c) { return std::max<long>({1, CHUNK / c, cdiv(rows, MAX_PARTS)}); }

// Per-channel sums over the rows of x [rows, c] (and of (x - shift)^2 when `sq`), in double:
// BatchNorm statistics over 200k rows must not drift with the row count.
void channel_sums(const float* x, long rows, long c, const float* shift, double* out, int threads) {
  const long chunk = reduce_chunk(rows, c), parts = cdiv(rows, chunk);
  std::vector<double> part(static_cast<size_t>(parts) * c, 0.0);
  for_items(parts, threads, [&](int, long it) {
    double* acc = part.data() + it * c;
    const long b = it * chunk, e = std::min(rows, b + chunk);
    for (long r = b; r < e; r++) {
      const float* xr = x + r * c;
      if (shift) {
        for (long j = 0; j < c; j++) {
          const double d = static_cast<double>(xr[j] - shift[j]);
          acc[j] += d * d;
        }
      } else {
        for (long j = 0; j < c; j++) acc[j] += xr[j];
      }
    }
  });
  for (long j = 0; j < c; j++) {
    double s = 0;
    for (long it = 0; it < parts; it++) s += part[it * c + j];
    out[j] = s;
  }
}

// d where y > 0, else +0 (NaN y included): a bit mask rather than a conditional, so the loops
// around it vectorize.
inline float relu_gate(float y, float d) {
  uint32_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  bits &= 0u - static_cast<uint32_t>(y > 0.f);
  float g;
  std::memcpy(&g, &bits, sizeof g);
  return g;
}

}  // namespace

// Training-mode BatchNorm (+ ReLU) on x [rows, c]: batch mean, biased variance, 1/sqrt(var + eps);
// y = relu?((x - mean) * rstd * gamma + beta).
void batchnorm_train(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var,
                     float* rstd, long rows, long c, float eps, bool relu, int threads) {
  std::vector<double> s(c);
  channel_sums(x, rows, c, nullptr, s.data(), threads);
  for (long j = 0; j < c; j++) mean[j] = static_cast<float>(s[j] / rows);
  channel_sums(x, rows, c, mean, s.data(), threads);
  std::vector<float> a(c), b(c);
  for (long j = 0; j < c; j++) {
    var[j] = static_cast<float>(s[j] / rows);
    rstd[j] = 1.f / std::sqrt(var[j] + eps);
    a[j] = rstd[j] * gamma[j];
    b[j] = beta[j] - mean[j] * a[j];
  }
  parallel_range(rows, threads, [&](long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      const float* xr = x + r * c;
      float* yr = y + r * c;
      if (relu) {
        for (long j = 0; j < c; j++) yr[j] = std::max(xr[j] * a[j] + b[j], 0.f);
      } else {
        for (long j = 0; j < c; j++) yr[j] = xr[j] * a[j] + b[j];
      }
    }
  });
}

// The closed-form gradient of batchnorm_train (ReLU gated by the saved output y when given):
// g = dy [y > 0]; dbeta = sum g; dgamma = rstd (sum g x - mean dbeta);
// dx = gamma rstd (g - dbeta / rows - xhat dgamma / rows).
void batchnorm_train_grad(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                          const float* y, float* dx, float* dgamma, float* dbeta, long rows, long c, int threads) {
  // Partials per row chunk, added in chunk order (see reduce_chunk): deterministic at any thread count.
  const long chunk = reduce_chunk(rows, c), parts = cdiv(rows, chunk);
  std::vector<double> part(static_cast<size_t>(parts) * 2 * c, 0.0);
  for_items(parts, threads, [&](int, long it) {
    double* __restrict sg = part.data() + it * 2 * c;
    double* __restrict sgx = sg + c;
    const long b = it * chunk, e = std::min(rows, b + chunk);
    for (long r = b; r < e; r++) {
      const float* __restrict dr = dy + r * c;
      const float* __restrict xr = x + r * c;
      // Separate loops with a select, not a branch: the gate is random per element (a branch
      // mispredicts half the time and kept this loop scalar, 10x slower than without the gate).
      if (y) {
        const float* __restrict yr = y + r * c;
        for (long j = 0; j < c; j++) {
          const float g = relu_gate(yr[j], dr[j]);
          sg[j] += g;
          sgx[j] += static_cast<double>(g) * xr[j];
        }
      } else {
        for (long j = 0; j < c; j++) {
          sg[j] += dr[j];
          sgx[j] += static_cast<double>(dr[j]) * xr[j];
        }
      }
    }
  });
  std::vector<float> ka(c), kx(c), kb(c);
  for (long j = 0; j < c; j++) {
    double sg = 0, sgx = 0;
    for (long it = 0; it < parts; it++) {
      sg += part[it * 2 * c + j];
      sgx += part[it * 2 * c + c + j];
    }
    const double dg = rstd[j] * (sgx - mean[j] * sg);
    dbeta[j] = static_cast<float>(sg);
    dgamma[j] = static_cast<float>(dg);
    const double scale = static_cast<double>(gamma[j]) * rstd[j];
    const double k = scale * rstd[j] * (-dg / rows);
    ka[j] = static_cast<float>(scale);
    kx[j] = static_cast<float>(k);
    kb[j] = static_cast<float>(scale * (-sg / rows) - k * mean[j]);
  }
  parallel_range(rows, threads, [&](long r0, long r1) {
    const float* __restrict a = ka.data();
    const float* __restrict bx = kx.data();
    const float* __restrict b0 = kb.data();
    for (long r = r0; r < r1; r++) {
      const float* __restrict dr = dy + r * c;
      const float* __restrict xr = x + r * c;
      float* __restrict o = dx + r * c;
      if (y) {
        const float* __restrict yr = y + r * c;
        for (long j = 0; j < c; j++) {
          const float g = relu_gate(yr[j], dr[j]);
          o[j] = a[j] * g + bx[j] * xr[j] + b0[j];
        }
      } else {
        for (long j = 0; j < c; j++) o[j] = a[j] * dr[j] + bx[j] * xr[j] + b0[j];
      }
    }
  });
}

// One optimiser step on n values, written to new buffers (p2, s2, t2); `h` holds the hyperparameters.
//  kind 0, tf.train.adam:   h = [beta1, beta2, eps, lr, 1 - beta1^t, 1 - beta2^t]
//  kind 1, torch Adam:      h = [beta1, beta2, eps, stepSize, sqrt(1 - beta2^t), weightDecay]
//  kind 2, torch SGD:       h = [momentum, dampening, nesterov, lr, weightDecay, fresh buffer]
//  kind 3, MoCo key EMA:    p2 = p * h[0] + g * (1 - h[0])  (g: the query encoder's value)
// (1 - beta) is rounded from double, as tfjs and torch take it from a JS number.

// The Adams on one value: p, m (slot 1), v (slot 2) updated in the caller's registers.
struct TfAdam {
  float b1, b2, eps, lr, c1, c2, o1, o2;
  explicit TfAdam(const double* h) : b1(h[0]), b2(h[1]), eps(h[2]), lr(h[3]), c1(h[4]), c2(h[5]), o1(1.0 - h[0]), o2(1.0 - h[1]) {}
  void operator()(float& p, float& m, float& v, float g) const {
    m = m * b1 + g * o1;
    v = v * b2 + (g * g) * o2;
    p = ((m / c1) / (std::sqrt(v / c2) + eps)) * -lr + p;
  }
};

template <bool decay>  // torch's L2 weight decay folded into the gradient (absent when 0: g stays g bit for bit)
struct TorchAdam {
  float b1, b2, eps, step, sb2, wd, o1, o2;
  explicit TorchAdam(const double* h) : b1(h[0]), b2(h[1]), eps(h[2]), step(h[3]), sb2(h[4]), wd(h[5]), o1(1.0 - h[0]), o2(1.0 - h[1]) {}
  void operator()(float& p, float& m, float& v, float g) const {
    const float gi = decay ? g + p * wd : g;
    m = m * b1 + gi * o1;
    v = v * b2 + (gi * gi) * o2;
    p = p - (m / (std::sqrt(v) / sb2 + eps)) * step;
  }
};

// A two-slot update over [b, e), out of place (seven distinct buffers) or in place (p, s, t each
// read and written through its own pointer): restrict-qualified either way, so GCC vectorises
// them (the divisions and square roots are correctly rounded in vector form too: the same bits).
template <class U>
void two_slots(const U& u, const float* __restrict p, const float* __restrict s, const float* __restrict t, const float* __restrict g,
               float* __restrict p2, float* __restrict s2, float* __restrict t2, long b, long e) {
  for (long i = b; i < e; i++) {
    float pi = p[i], m = s[i], v = t[i];
    u(pi, m, v, g[i]);
    p2[i] = pi;
    s2[i] = m;
    t2[i] = v;
  }
}

template <class U>
void two_slots_in_place(const U& u, float* __restrict p, float* __restrict s, float* __restrict t, const float* __restrict g, long b, long e) {
  for (long i = b; i < e; i++) {
    float pi = p[i], m = s[i], v = t[i];
    u(pi, m, v, g[i]);
    p[i] = pi;
    s[i] = m;
    t[i] = v;
  }
}

// Elements [b, e) of one out-of-place update.
static void optimizer_range(int kind, const float* p, const float* s, const float* t, const float* g, float* p2,
                            float* s2, float* t2, long b, long e, const double* h) {
  if (kind == 0) {
    two_slots(TfAdam(h), p, s, t, g, p2, s2, t2, b, e);
  } else if (kind == 1) {
    if (static_cast<float>(h[5]) != 0.f) two_slots(TorchAdam<true>(h), p, s, t, g, p2, s2, t2, b, e);
    else two_slots(TorchAdam<false>(h), p, s, t, g, p2, s2, t2, b, e);
  } else if (kind == 2) {
    const float mom = h[0], od = 1.0 - h[1], lr = h[3], wd = h[4];
    const bool nesterov = h[2] != 0, fresh = h[5] != 0;
    for (long i = b; i < e; i++) {
      const float d = wd != 0.f ? g[i] + p[i] * wd : g[i];
      float upd = d;
      if (mom != 0.f) {
        const float buf = fresh ? d : s[i] * mom + d * od;
        s2[i] = buf;
        upd = nesterov ? d + buf * mom : buf;
      }
      p2[i] = p[i] - upd * lr;
    }
  } else {
    const float m = h[0], om = 1.0 - h[0];
    for (long i = b; i < e; i++) p2[i] = p[i] * m + g[i] * om;
  }
}

// Elements [b, e) of one in-place update (kinds 0, 1, 3): the same arithmetic as optimizer_range.
static void optimizer_range_in_place(int kind, float* __restrict p, float* s, float* t, const float* __restrict g, long b, long e, const double* h) {
  if (kind == 0) {
    two_slots_in_place(TfAdam(h), p, s, t, g, b, e);
  } else if (kind == 1) {
    if (static_cast<float>(h[5]) != 0.f) two_slots_in_place(TorchAdam<true>(h), p, s, t, g, b, e);
    else two_slots_in_place(TorchAdam<false>(h), p, s, t, g, b, e);
  } else {
    const float m = h[0], om = 1.0 - h[0];
    for (long i = b; i < e; i++) p[i] = p[i] * m + g[i] * om;
  }
}

void optimizer_step(int kind, const float* p, const float* s, const float* t, const float* g, float* p2, float* s2,
                    float* t2, long n, const double* h, int threads) {
  parallel_range(n, threads, [&](long b, long e) { optimizer_range(kind, p, s, t, g, p2, s2, t2, b, e, h); });
}

// The same update over every variable of a step at once, in place (p, s, t are overwritten): one
// parallel region for all of them, its items the 16k-element chunks of every variable in turn, so
// small variables share threads with large ones. Same bits as optimizer_step on each variable.
void optimizer_step_in_place(int kind, const OptimizerVars& v, const double* h, int threads) {
  const size_t nv = v.n.size();
  std::vector<long> first(nv + 1, 0);  // first chunk of each variable
  for (size_t i = 0; i < nv; i++) first[i + 1] = first[i] + cdiv(v.n[i], CHUNK);
  for_items(first[nv], threads, [&](int, long it) {
    const size_t i = static_cast<size_t>(std::upper_bound(first.begin(), first.end(), it) - first.begin()) - 1;
    const long b = (it - first[i]) * CHUNK, e = std::min(v.n[i], b + CHUNK);
    optimizer_range_in_place(kind, v.p[i], v.s.empty() ? nullptr : v.s[i], v.t.empty() ? nullptr : v.t[i], v.g[i], b, e, h);
  });
}

// ReLU as tfjs computes it on every backend: x where x > 0, NaN kept, else +0 (also for -0).
void relu(const float* x, float* y, long n, int threads) {
  parallel_range(n, threads, [&](long b, long e) {
    for (long i = b; i < e; i++) y[i] = x[i] > 0.f ? x[i] : (x[i] == x[i] ? 0.f : x[i]);
  });
}

// ReLU's gradient as tfjs composes it, dy * step(x): step is 1 where x > 0, NaN where x is NaN,
// else 0; the product keeps its IEEE result (-0 for a negative dy, NaN for an infinite one).
void relu_grad(const float* dy, const float* x, float* dx, long n, int threads) {
  parallel_range(n, threads, [&](long b, long e) {
    for (long i = b; i < e; i++) {
      // Two flat selects (no nested one), so the loop vectorises.
      const float xi = x[i], step = xi > 0.f ? 1.f : 0.f;
      dx[i] = dy[i] * (xi == xi ? step : xi);
    }
  });
}

// Max-pool gradient, NHWC: each window's dy goes to the first position holding its maximum (as
// tfjs' cpu backend); shape fields kh/kw are the window, ci the channels. One image per item.
// Each window keeps, per channel, the best value and the index of its cell (int32, so the
// compare-and-select over channels vectorises), then scatters dy in output order.
void maxpool_grad(const float* x, const float* dy, float* dx, const ConvShape& s, int threads) {
  const long c = s.ci;
  for_items(s.n, threads, [&](int, long b) {
    float* dxb = dx + b * s.h * s.w * c;
    std::memset(dxb, 0, sizeof(float) * s.h * s.w * c);
    std::vector<int32_t> best(c);  // the best values' bits
    std::vector<int32_t> at(c);
    std::vector<long> cell(static_cast<size_t>(s.kh) * s.kw);  // each window cell's offset in x
    int32_t* __restrict bv = best.data();
    int32_t* __restrict ap = at.data();
    const float lowest = -INFINITY;
    int32_t lowest_bits;
    std::memcpy(&lowest_bits, &lowest, sizeof lowest_bits);
    for (int p = 0; p < s.oh; p++) {
      const int r0 = p * s.sh - s.pt, rs = std::max(r0, 0), re = std::min(r0 + s.kh, s.h);
      for (int q = 0; q < s.ow; q++) {
        const int c0 = q * s.sw - s.pl, cs = std::max(c0, 0), ce = std::min(c0 + s.kw, s.w);
        if (rs >= re || cs >= ce) continue;
        std::fill(best.begin(), best.end(), lowest_bits);
        std::fill(at.begin(), at.end(), -1);
        int32_t k = 0;
        for (int r = rs; r < re; r++)
          for (int col = cs; col < ce; col++, k++) {
            const long base = ((b * s.h + r) * s.w + col) * c;
            cell[k] = base;
            const float* __restrict xr = x + base;
            const int32_t* __restrict xb = reinterpret_cast<const int32_t*>(xr);
            for (long ch = 0; ch < c; ch++) {
              // Strict: the first maximum wins, NaN never does. Selects on bits, branch-free.
              float b;
              std::memcpy(&b, bv + ch, sizeof b);
              const int32_t more = -static_cast<int32_t>(xr[ch] > b);
              bv[ch] = (xb[ch] & more) | (bv[ch] & ~more);
              ap[ch] = (k & more) | (ap[ch] & ~more);
            }
          }
        const float* g = dy + ((b * s.oh + p) * s.ow + q) * c;
        for (long ch = 0; ch < c; ch++)
          if (ap[ch] >= 0) dx[cell[ap[ch]] + ch] += g[ch];
      }
    }
  });
}

}  // namespace mococxr
