// The kernels, written once with GCC vector extensions and compiled once per instruction set:
// each isa_*.cc defines VBYTES (vector width in bytes) and MR (rows of the register tile), sets
// `#pragma GCC target`, and includes this file inside its own namespace.
//
// Layouts are tfjs': activations NHWC, filters HWIO ([kh][kw][ci][co]), all float32, row-major.
// Every kernel is a GEMM C = A B on packed panels (BLIS order): A in MR-row strips, B in NR-column
// strips, an MR x NR register tile of FMAs. Convolutions never build an im2col matrix: the A
// packer gathers it straight from the input, a cache-sized block at a time.

constexpr int VL = VBYTES / 4;
constexpr int NR = 2 * VL;
constexpr long KC = 256;  // depth of a packed panel: an MR x KC A strip plus a KC x NR B strip fit L1

typedef float vf __attribute__((vector_size(VBYTES)));
typedef float vfu __attribute__((vector_size(VBYTES), aligned(4), may_alias));

static inline vf loadu(const float* p) { return *reinterpret_cast<const vfu*>(p); }
static inline void storeu(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
static inline long round_up(long a, long b) { return (a + b - 1) / b * b; }
static inline long cdiv(long a, long b) { return (a + b - 1) / b; }

// Runs f(tid, item) for every item in [0, items), each once, on up to `threads` threads taking
// items from a shared counter (a thread the OS does not schedule in time leaves its share to others).
template <class F>
static void for_items(long items, int threads, F f) {
  if (items <= 0) return;
  std::atomic<long> next{0};
  mococxr::pool().run(items > 1 ? static_cast<int>(std::min<long>(threads, items)) : 1, [&](int tid, int) {
    for (long it; (it = next.fetch_add(1, std::memory_order_relaxed)) < items;) f(tid, it);
  });
}

// C[mr x nr] (+)= sum_p A[p][0..MR) * B[p][0..NR): A packed p-major in MR rows, B packed in NR columns.
static inline __attribute__((always_inline)) void micro(long kc, const float* __restrict A, const float* __restrict B,
                                                        float* __restrict C, long ldc, int mr, int nr, bool acc) {
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
  alignas(64) float t[MR * NR];
  for (int i = 0; i < MR; i++) {
    storeu(t + i * NR, c0[i]);
    storeu(t + i * NR + VL, c1[i]);
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) C[i * ldc + j] = (acc ? C[i * ldc + j] : 0.f) + t[i * NR + j];
}

// B (k x n, element (p, j) at b[p * rs + j * cs]) packed whole: for each KC block starting at p0,
// NR-column strips of kc rows at out + p0 * npad + strip * kc * NR; columns past n are zero.
static void pack_b(const float* b, long rs, long cs, long k, long n, float* out, int threads) {
  const long npad = round_up(n, NR), strips = npad / NR;
  const long blocks = cdiv(k, KC);
  for_items(blocks * strips, blocks * strips >= 4 ? threads : 1, [&](int, long item) {
    const long p0 = (item / strips) * KC, s = item % strips;
    const long kc = std::min(KC, k - p0), j0 = s * NR, nr = std::min<long>(NR, n - j0);
    float* dst = out + p0 * npad + s * kc * NR;
    for (long p = 0; p < kc; p++) {
      const float* src = b + (p0 + p) * rs + j0 * cs;
      float* d = dst + p * NR;
      if (cs == 1 && nr == NR) {
        std::memcpy(d, src, NR * sizeof(float));
      } else {
        long j = 0;
        for (; j < nr; j++) d[j] = src[j * cs];
        for (; j < NR; j++) d[j] = 0.f;
      }
    }
  });
}

// A row block packed into MR-row strips of kc columns; element (i, p) read as a[i * rs + p * cs].
static void pack_a_dense(const float* a, long rs, long cs, long mc, long kc, float* out) {
  for (long s = 0; s < mc; s += MR) {
    float* dst = out + s * kc;
    const long mr = std::min<long>(MR, mc - s);
    if (cs == 1) {
      for (long i = 0; i < mr; i++) {
        const float* src = a + (s + i) * rs;
        for (long p = 0; p < kc; p++) dst[p * MR + i] = src[p];
      }
    } else {
      for (long p = 0; p < kc; p++) {
        const float* src = a + p * cs + s * rs;
        for (long i = 0; i < mr; i++) dst[p * MR + i] = src[i * rs];
      }
    }
    for (long i = mr; i < MR; i++)
      for (long p = 0; p < kc; p++) dst[p * MR + i] = 0.f;
  }
}

// C (m x n, row stride ldc) = A B with B already packed by pack_b; `pack_a(m0, mc, p0, kc, dst)`
// packs rows [m0, m0 + mc) and columns [p0, p0 + kc) of A. Work is split over row blocks and,
// when there are too few of them for the threads, over column chunks too.
template <class PackA>
static void gemm_packed_b(long m, long n, long k, const float* bp, float* c, long ldc, PackA pack_a, int threads) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (long i = 0; i < m; i++) std::memset(c + i * ldc, 0, n * sizeof(float));
    return;
  }
  const long npad = round_up(n, NR);
  // Row blocks: an mc x KC A block stays in L2 while every B strip passes over it.
  long mc = std::min<long>(round_up(m, MR), 8 * MR);
  const long mblocks = cdiv(m, mc);
  long nchunks = 1;
  if (mblocks < 4L * threads) nchunks = std::min(npad / NR, cdiv(4L * threads, mblocks));
  const long nc = round_up(cdiv(npad, nchunks), NR);
  nchunks = cdiv(npad, nc);
  const long items = mblocks * nchunks;
  const long kblocks = cdiv(k, KC);
  if (nchunks > 1) {
    // Few row blocks, several column chunks: pack A once (all of it is small) and share it, rather
    // than gathering the same rows again for every chunk.
    static thread_local Scratch aall;
    const long mcpad = round_up(mc, MR);
    float* ap = aall.get(mblocks * mcpad * k);
    auto a_at = [&](long mb, long p0) { return ap + mb * mcpad * k + p0 * round_up(std::min(mc, m - mb * mc), MR); };
    for_items(mblocks * kblocks, threads, [&](int, long it) {
      const long mb = it / kblocks, p0 = (it % kblocks) * KC;
      pack_a(mb * mc, std::min(mc, m - mb * mc), p0, std::min(KC, k - p0), a_at(mb, p0));
    });
    for_items(items, threads, [&](int, long item) {
      const long mb = item / nchunks, m0 = mb * mc, n0 = (item % nchunks) * nc;
      const long rows = std::min(mc, m - m0), ncols = std::min(nc, n - n0);
      if (ncols <= 0) return;
      for (long p0 = 0; p0 < k; p0 += KC) {
        const long kc = std::min(KC, k - p0);
        const float* a = a_at(mb, p0);
        for (long j0 = n0; j0 < n0 + ncols; j0 += NR) {
          const float* bs = bp + p0 * npad + (j0 / NR) * kc * NR;
          const int nr = static_cast<int>(std::min<long>(NR, n - j0));
          for (long i = 0; i < rows; i += MR)
            micro(kc, a + i * kc, bs, c + (m0 + i) * ldc + j0, ldc, static_cast<int>(std::min<long>(MR, rows - i)), nr, p0 > 0);
        }
      }
    });
    return;
  }
  std::atomic<long> next{0};
  auto body = [&](int, int) {
    static thread_local Scratch abuf;
    float* ap = abuf.get(mc * KC);
    for (long item; (item = next.fetch_add(1, std::memory_order_relaxed)) < items;) {
      const long m0 = item * mc;
      const long rows = std::min(mc, m - m0);
      for (long p0 = 0; p0 < k; p0 += KC) {
        const long kc = std::min(KC, k - p0);
        pack_a(m0, rows, p0, kc, ap);
        for (long j0 = 0; j0 < n; j0 += NR) {
          const float* bs = bp + p0 * npad + (j0 / NR) * kc * NR;
          const int nr = static_cast<int>(std::min<long>(NR, n - j0));
          for (long i = 0; i < rows; i += MR)
            micro(kc, ap + i * kc, bs, c + (m0 + i) * ldc + j0, ldc, static_cast<int>(std::min<long>(MR, rows - i)), nr, p0 > 0);
        }
      }
    }
  };
  mococxr::pool().run(items > 1 ? threads : 1, body);
}

// ---- MatMul -------------------------------------------------------------------------------

// c[b] = op(a[b]) op(b[b]) for b < batch; a batch stride of 0 broadcasts that operand.
static void matmul(const float* a, const float* b, float* c, long batch, long m, long k, long n, bool ta, bool tb,
                   long stride_a, long stride_b, int threads) {
  static thread_local Scratch bbuf;
  for (long i = 0; i < batch; i++) {
    const float* ai = a + i * stride_a;
    const float* bi = b + i * stride_b;
    float* bp = bbuf.get(round_up(n, NR) * std::max<long>(k, 1));
    if (i == 0 || stride_b != 0) pack_b(bi, tb ? 1 : n, tb ? k : 1, k, n, bp, threads);
    const long ars = ta ? 1 : k, acs = ta ? m : 1;
    gemm_packed_b(m, n, k, bp, c + i * m * n, n,
                  [&](long m0, long mc, long p0, long kc, float* dst) { pack_a_dense(ai + m0 * ars + p0 * acs, ars, acs, mc, kc, dst); },
                  threads);
  }
}

// ---- Convolution --------------------------------------------------------------------------

struct Pixel {
  long base;  // offset of x[n, ih0, iw0, 0] (may point outside a row: only used when in bounds)
  int ih0, iw0;
};

static inline Pixel pixel_of(const ConvShape& s, long m) {
  const long ohw = static_cast<long>(s.oh) * s.ow;
  const long nn = m / ohw, r = m % ohw;
  const int oh = static_cast<int>(r / s.ow), ow = static_cast<int>(r % s.ow);
  Pixel px;
  px.ih0 = oh * s.sh - s.pt;
  px.iw0 = ow * s.sw - s.pl;
  px.base = ((nn * s.h + px.ih0) * s.w + px.iw0) * static_cast<long>(s.ci);
  return px;
}

// Copies im2col(x)[pixel][k0 .. k0 + len) to dst[t * stride] (zeros where the tap is padding).
static inline void gather_row(const float* x, const ConvShape& s, const Pixel& px, long k0, long len, float* dst, long stride) {
  // Divide once, then walk the taps (kh, kw) and channel runs incrementally.
  const long tap0 = k0 / s.ci;
  long c0 = k0 % s.ci;
  int kh = static_cast<int>(tap0 / s.kw), kw = static_cast<int>(tap0 % s.kw);
  long k = k0;
  const long end = k0 + len;
  while (k < end) {
    const long run = std::min<long>(s.ci - c0, end - k);
    const int ih = px.ih0 + kh, iw = px.iw0 + kw;
    float* d = dst + (k - k0) * stride;
    if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) {
      const float* src = x + px.base + (static_cast<long>(kh) * s.w + kw) * s.ci + c0;
      if (stride == 1) {
        std::memcpy(d, src, run * sizeof(float));
      } else {
        for (long t = 0; t < run; t++) d[t * stride] = src[t];
      }
    } else {
      for (long t = 0; t < run; t++) d[t * stride] = 0.f;
    }
    k += run;
    c0 = 0;
    if (++kw == s.kw) {
      kw = 0;
      kh++;
    }
  }
}

static inline bool pointwise(const ConvShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && s.oh == s.h && s.ow == s.w;
}

// y = conv2d(x, w): rows are output pixels, columns output channels, depth kh * kw * ci.
static void conv2d(const float* x, const float* w, float* y, const ConvShape& s, int threads) {
  const long m = static_cast<long>(s.n) * s.oh * s.ow, k = static_cast<long>(s.kh) * s.kw * s.ci, n = s.co;
  static thread_local Scratch bbuf;
  float* bp = bbuf.get(round_up(n, NR) * std::max<long>(k, 1));
  pack_b(w, n, 1, k, n, bp, threads);
  if (pointwise(s)) {
    gemm_packed_b(m, n, k, bp, y, n, [&](long m0, long mc, long p0, long kc, float* dst) { pack_a_dense(x + m0 * k + p0, k, 1, mc, kc, dst); }, threads);
    return;
  }
  gemm_packed_b(m, n, k, bp, y, n,
                [&](long m0, long mc, long p0, long kc, float* dst) {
                  for (long st = 0; st < mc; st += MR) {
                    float* d = dst + st * kc;
                    const long mr = std::min<long>(MR, mc - st);
                    for (long i = 0; i < mr; i++) gather_row(x, s, pixel_of(s, m0 + st + i), p0, kc, d + i, MR);
                    for (long i = mr; i < MR; i++)
                      for (long p = 0; p < kc; p++) d[p * MR + i] = 0.f;
                  }
                },
                threads);
}

// Adds dcol rows [m0, m0 + rows) (row stride k) onto the input pixels their taps read.
static void scatter_rows(const ConvShape& s, const float* cb, long k, long m0, long rows, float* dx) {
  for (long i = 0; i < rows; i++) {
    const Pixel px = pixel_of(s, m0 + i);
    const float* src = cb + i * k;
    for (int kh = 0; kh < s.kh; kh++) {
      const int ih = px.ih0 + kh;
      if (ih < 0 || ih >= s.h) continue;
      for (int kw = 0; kw < s.kw; kw++) {
        const int iw = px.iw0 + kw;
        if (iw < 0 || iw >= s.w) continue;
        float* d = dx + px.base + (static_cast<long>(kh) * s.w + kw) * s.ci;
        const float* g = src + (static_cast<long>(kh) * s.kw + kw) * s.ci;
        long c = 0;
        for (; c + VL <= s.ci; c += VL) storeu(d + c, loadu(d + c) + loadu(g + c));
        for (; c < s.ci; c++) d[c] += g[c];
      }
    }
      }
}

// dx = conv2d's input gradient: dcol = dy w^T (rows output pixels, columns kh * kw * ci), then each
// row is added back onto the input pixels its taps read. Threads own whole images, so no two
// threads ever add to the same dx element.
static void conv2d_grad_input(const float* dy, const float* w, float* dx, const ConvShape& s, int threads) {
  const long m = static_cast<long>(s.n) * s.oh * s.ow, k = static_cast<long>(s.kh) * s.kw * s.ci, co = s.co;
  static thread_local Scratch bbuf;
  float* bp = bbuf.get(round_up(k, NR) * std::max<long>(co, 1));
  pack_b(w, 1, co, co, k, bp, threads);  // w^T: element (p = output channel, j = k) at w[j * co + p]
  auto pack_dy = [&](long m0, long mc, long p0, long kc, float* dst) { pack_a_dense(dy + m0 * co + p0, co, 1, mc, kc, dst); };
  if (pointwise(s)) {
    gemm_packed_b(m, k, co, bp, dx, k, pack_dy, threads);
    return;
  }
  std::memset(dx, 0, static_cast<size_t>(s.n) * s.h * s.w * s.ci * sizeof(float));
  const long ohw = static_cast<long>(s.oh) * s.ow;
  if (m * k <= (1L << 21)) {
    // Small layers (few output pixels per image): one GEMM over every row fills the register
    // tiles and splits across threads by columns; then each image's rows are added back.
    static thread_local Scratch dcol;
    float* cb = dcol.get(m * k);
    gemm_packed_b(m, k, co, bp, cb, k, pack_dy, threads);
    for_items(s.n, threads, [&](int, long img) { scatter_rows(s, cb + img * ohw * k, k, img * ohw, ohw, dx); });
    return;
  }
  // Rows per block: the mc x k dcol block stays within L2.
  const long mc = std::max<long>(MR, std::min<long>(16 * MR, (131072 / std::max<long>(k, 1)) / MR * MR));
  const long npad = round_up(k, NR);
  // One image per item: its dx rows are written by one thread only.
  for_items(s.n, threads, [&](int, long img) {
    static thread_local Scratch abuf, cbuf;
    float* ap = abuf.get(mc * KC);
    float* cb = cbuf.get(mc * k);
    for (long m0 = img * ohw; m0 < (img + 1) * ohw; m0 += mc) {
      const long rows = std::min(mc, (img + 1) * ohw - m0);
      for (long p0 = 0; p0 < co; p0 += KC) {
        const long kc = std::min<long>(KC, co - p0);
        pack_dy(m0, rows, p0, kc, ap);
        for (long j0 = 0; j0 < k; j0 += NR) {
          const float* bs = bp + p0 * npad + (j0 / NR) * kc * NR;
          const int nr = static_cast<int>(std::min<long>(NR, k - j0));
          for (long i = 0; i < rows; i += MR)
            micro(kc, ap + i * kc, bs, cb + i * k + j0, k, static_cast<int>(std::min<long>(MR, rows - i)), nr, p0 > 0);
        }
      }
      scatter_rows(s, cb, k, m0, rows, dx);
    }
  });
}

// dw = im2col(x)^T dy: rows kh * kw * ci, columns co, depth the output pixels. Threads own ranges
// of rows, so each sums its own rows over every pixel and nothing is reduced afterwards.
static void conv2d_grad_filter(const float* x, const float* dy, float* dw, const ConvShape& s, int threads) {
  const long p = static_cast<long>(s.n) * s.oh * s.ow, k = static_cast<long>(s.kh) * s.kw * s.ci, co = s.co;
  std::memset(dw, 0, static_cast<size_t>(k) * co * sizeof(float));
  if (p == 0) return;
  const long strips = cdiv(k, MR), npad = round_up(co, NR);
  // Items are groups of row strips: each packs dy once per pixel block for several strips.
  const long group = std::max<long>(1, std::min<long>(8, strips / (4L * threads)));
  const long groups = cdiv(strips, group);
  for_items(groups, threads, [&](int, long gi) {
    static thread_local Scratch abuf, bbuf;
    static thread_local std::vector<Pixel> pix;
    float* ap = abuf.get(MR * KC);
    float* bp = bbuf.get(npad * KC);
    if (pix.size() < static_cast<size_t>(KC)) pix.resize(KC);
    const long s0 = gi * group, s1 = std::min(strips, s0 + group);
    for (long p0 = 0; p0 < p; p0 += KC) {
      const long kc = std::min(KC, p - p0);
      for (long j0 = 0; j0 < npad; j0 += NR) {
        float* d = bp + j0 * kc;
        const long nr = std::min<long>(NR, co - j0);
        for (long q = 0; q < kc; q++) {
          const float* src = dy + (p0 + q) * co + j0;
          long j = 0;
          for (; j < nr; j++) d[q * NR + j] = src[j];
          for (; j < NR; j++) d[q * NR + j] = 0.f;
        }
      }
      for (long q = 0; q < kc; q++) pix[q] = pixel_of(s, p0 + q);
      for (long st = s0; st < s1; st++) {
        const long k0 = st * MR, mr = std::min<long>(MR, k - k0);
        for (long q = 0; q < kc; q++) {
          float* d = ap + q * MR;
          gather_row(x, s, pix[q], k0, mr, d, 1);
          for (long i = mr; i < MR; i++) d[i] = 0.f;
        }
        for (long j0 = 0; j0 < co; j0 += NR)
          micro(kc, ap, bp + j0 * kc, dw + k0 * co + j0, co, static_cast<int>(mr), static_cast<int>(std::min<long>(NR, co - j0)), true);
      }
    }
  });
}

// ---- Elementwise and per-channel kernels (memory-bound: one pass each, split over threads) ----

// Runs f(begin, end) over [0, n) in chunks, one per thread, when n is worth splitting.
// Chunks of 16k elements, so idle threads take over from descheduled ones.
constexpr long CHUNK = 16384;

template <class F>
static void parallel_range(long n, int threads, F f) {
  for_items(cdiv(n, CHUNK), threads, [&](int, long it) { f(it * CHUNK, std::min(n, (it + 1) * CHUNK)); });
}

// Row chunks of the per-channel reductions, from the shape alone (at most MAX_PARTS of them): each
// chunk sums its rows into its own partial, and the partials are added in chunk order, so the
// result has the same bits at every thread count and however the threads took the chunks.
constexpr long MAX_PARTS = 256;

static inline long reduce_chunk(long rows, long c) { return std::max<long>({1, CHUNK / c, cdiv(rows, MAX_PARTS)}); }

// Per-channel sums over the rows of x [rows, c] (and of (x - shift)^2 when `sq`), in double:
// BatchNorm statistics over 200k rows must not drift with the row count.
static void channel_sums(const float* x, long rows, long c, const float* shift, double* out, int threads) {
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

// Training-mode BatchNorm (+ ReLU) on x [rows, c]: batch mean, biased variance, 1/sqrt(var + eps);
// y = relu?((x - mean) * rstd * gamma + beta).
static void batchnorm_train(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var,
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
static void batchnorm_train_grad(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                                 const float* y, float* dx, float* dgamma, float* dbeta, long rows, long c, int threads) {
  // Partials per row chunk, added in chunk order (see reduce_chunk): deterministic at any thread count.
  const long chunk = reduce_chunk(rows, c), parts = cdiv(rows, chunk);
  std::vector<double> part(static_cast<size_t>(parts) * 2 * c, 0.0);
  for_items(parts, threads, [&](int, long it) {
    double* sg = part.data() + it * 2 * c;
    double* sgx = sg + c;
    const long b = it * chunk, e = std::min(rows, b + chunk);
    for (long r = b; r < e; r++) {
      const float* dr = dy + r * c;
      const float* xr = x + r * c;
      const float* yr = y ? y + r * c : nullptr;
      for (long j = 0; j < c; j++) {
        const float g = (yr && !(yr[j] > 0.f)) ? 0.f : dr[j];
        sg[j] += g;
        sgx[j] += static_cast<double>(g) * xr[j];
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
    for (long r = r0; r < r1; r++) {
      const float* dr = dy + r * c;
      const float* xr = x + r * c;
      const float* yr = y ? y + r * c : nullptr;
      float* o = dx + r * c;
      for (long j = 0; j < c; j++) {
        const float g = (yr && !(yr[j] > 0.f)) ? 0.f : dr[j];
        o[j] = ka[j] * g + kx[j] * xr[j] + kb[j];
      }
    }
  });
}

// One optimiser step on n values, written to new buffers (p2, s2, t2); `h` holds the hyperparameters.
//  kind 0, tf.train.adam:   h = [beta1, beta2, eps, lr, 1 - beta1^t, 1 - beta2^t]
//  kind 1, torch Adam:      h = [beta1, beta2, eps, stepSize, sqrt(1 - beta2^t), weightDecay]
//  kind 2, torch SGD:       h = [momentum, dampening, nesterov, lr, weightDecay, fresh buffer]
//  kind 3, MoCo key EMA:    p2 = p * h[0] + g * (1 - h[0])  (g: the query encoder's value)
static void optimizer_step(int kind, const float* p, const float* s, const float* t, const float* g, float* p2, float* s2,
                           float* t2, long n, const double* h, int threads) {
  parallel_range(n, threads, [&](long b, long e) {
    if (kind == 0) {
      // (1 - beta) rounded from double, as tfjs and torch take it from a JS number.
      const float b1 = h[0], b2 = h[1], eps = h[2], lr = h[3], c1 = h[4], c2 = h[5], o1 = 1.0 - h[0], o2 = 1.0 - h[1];
      for (long i = b; i < e; i++) {
        const float m = s[i] * b1 + g[i] * o1;
        const float v = t[i] * b2 + (g[i] * g[i]) * o2;
        s2[i] = m;
        t2[i] = v;
        p2[i] = ((m / c1) / (std::sqrt(v / c2) + eps)) * -lr + p[i];
      }
    } else if (kind == 1) {
      const float b1 = h[0], b2 = h[1], eps = h[2], step = h[3], sb2 = h[4], wd = h[5], o1 = 1.0 - h[0], o2 = 1.0 - h[1];
      for (long i = b; i < e; i++) {
        const float gi = wd != 0.f ? g[i] + p[i] * wd : g[i];
        const float m = s[i] * b1 + gi * o1;
        const float v = t[i] * b2 + (gi * gi) * o2;
        s2[i] = m;
        t2[i] = v;
        p2[i] = p[i] - (m / (std::sqrt(v) / sb2 + eps)) * step;
      }
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
  });
}

// Max-pool gradient, NHWC: each window's dy goes to the first position holding its maximum (as
// tfjs' cpu backend); shape fields kh/kw are the window, ci the channels. One image per item.
static void maxpool_grad(const float* x, const float* dy, float* dx, const ConvShape& s, int threads) {
  const long c = s.ci;
  for_items(s.n, threads, [&](int, long b) {
    float* dxb = dx + b * s.h * s.w * c;
    std::memset(dxb, 0, sizeof(float) * s.h * s.w * c);
    std::vector<float> best(c);
    std::vector<long> at(c);
    for (int p = 0; p < s.oh; p++) {
      const int r0 = p * s.sh - s.pt, rs = std::max(r0, 0), re = std::min(r0 + s.kh, s.h);
      for (int q = 0; q < s.ow; q++) {
        const int c0 = q * s.sw - s.pl, cs = std::max(c0, 0), ce = std::min(c0 + s.kw, s.w);
        if (rs >= re || cs >= ce) continue;
        std::fill(best.begin(), best.end(), -INFINITY);
        std::fill(at.begin(), at.end(), -1L);
        for (int r = rs; r < re; r++)
          for (int col = cs; col < ce; col++) {
            const long base = ((b * s.h + r) * s.w + col) * c;
            for (long ch = 0; ch < c; ch++) {
              const float v = x[base + ch];
              if (v > best[ch]) {
                best[ch] = v;
                at[ch] = base + ch;
              }
            }
          }
        const float* g = dy + ((b * s.oh + p) * s.ow + q) * c;
        for (long ch = 0; ch < c; ch++)
          if (at[ch] >= 0) dx[at[ch]] += g[ch];
      }
    }
  });
}

static const KernelTable table = {ISA_LABEL, conv2d, conv2d_grad_input, conv2d_grad_filter, matmul,
                                  batchnorm_train, batchnorm_train_grad, optimizer_step, maxpool_grad};
