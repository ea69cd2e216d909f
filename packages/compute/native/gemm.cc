// The GEMM drivers, compiled once for every instruction set: every kernel here is a GEMM C = A B
// on packed panels (BLIS order), A in MR-row strips, B in NR-column strips, with the register
// tile computed by the microkernel `uk` of the active set (ukernels/). Convolutions never build
// an im2col matrix: the A packer gathers it straight from the input, a cache-sized block at a time.
// Nothing here does arithmetic on the values except the microkernel and scatter_rows' sums, so the
// bits are the microkernel's whatever the blocking. A microkernel with its own panel layout (bf16)
// has each packed strip converted by its `pack` right after the strip is packed.
#include "kernels.h"

namespace mococxr {
namespace {

constexpr long KC = 256;  // depth of a packed panel: an MR x KC A strip plus a KC x NR B strip fit L1

}  // namespace

// B (k x n, element (p, j) at b[p * rs + j * cs]) packed whole: for each KC block starting at p0,
// NR-column strips of kc rows at out + p0 * npad + strip * kc * NR; columns past n are zero.
// Each strip is then converted by `cvt` where the microkernel reads another layout (GemmPackFn).
void pack_b(long NR, const float* b, long rs, long cs, long k, long n, float* out, int threads, GemmPackFn cvt) {
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
    if (cvt) cvt(kc, NR, dst);
  });
}

typedef float v4f __attribute__((vector_size(16)));
typedef float v4fu __attribute__((vector_size(16), aligned(4), may_alias));

// mr rows of kc values (row i at src + i * rs) written p-major, dst[p * MR + i]: the strip layout
// the microkernels read. Four rows by four columns at a time go through a register transpose.
void rows_to_strip(const float* src, long rs, long mr, long kc, float* dst, long MR) {
  long i = 0;
  for (; i + 4 <= mr; i += 4) {
    const float* r = src + i * rs;
    long p = 0;
    for (; p + 4 <= kc; p += 4) {
      const v4f r0 = *reinterpret_cast<const v4fu*>(r + p), r1 = *reinterpret_cast<const v4fu*>(r + rs + p);
      const v4f r2 = *reinterpret_cast<const v4fu*>(r + 2 * rs + p), r3 = *reinterpret_cast<const v4fu*>(r + 3 * rs + p);
      typedef int v4i __attribute__((vector_size(16)));
      const v4f t0 = __builtin_shuffle(r0, r1, v4i{0, 4, 1, 5}), t1 = __builtin_shuffle(r0, r1, v4i{2, 6, 3, 7});
      const v4f t2 = __builtin_shuffle(r2, r3, v4i{0, 4, 1, 5}), t3 = __builtin_shuffle(r2, r3, v4i{2, 6, 3, 7});
      float* d = dst + p * MR + i;
      *reinterpret_cast<v4fu*>(d) = __builtin_shuffle(t0, t2, v4i{0, 1, 4, 5});
      *reinterpret_cast<v4fu*>(d + MR) = __builtin_shuffle(t0, t2, v4i{2, 3, 6, 7});
      *reinterpret_cast<v4fu*>(d + 2 * MR) = __builtin_shuffle(t1, t3, v4i{0, 1, 4, 5});
      *reinterpret_cast<v4fu*>(d + 3 * MR) = __builtin_shuffle(t1, t3, v4i{2, 3, 6, 7});
    }
    for (; p < kc; p++)
      for (long t = 0; t < 4; t++) dst[p * MR + i + t] = r[t * rs + p];
  }
  for (; i < mr; i++) {
    const float* r = src + i * rs;
    for (long p = 0; p < kc; p++) dst[p * MR + i] = r[p];
  }
}

namespace {

// A row block packed into MR-row strips of kc columns; element (i, p) read as a[i * rs + p * cs].
void pack_a_dense(long MR, const float* a, long rs, long cs, long mc, long kc, float* out, GemmPackFn cvt) {
  for (long s = 0; s < mc; s += MR) {
    float* dst = out + s * kc;
    const long mr = std::min<long>(MR, mc - s);
    if (cs == 1) {
      rows_to_strip(a + s * rs, rs, mr, kc, dst, MR);
    } else {
      for (long p = 0; p < kc; p++) {
        const float* src = a + p * cs + s * rs;
        for (long i = 0; i < mr; i++) dst[p * MR + i] = src[i * rs];
      }
    }
    for (long i = mr; i < MR; i++)
      for (long p = 0; p < kc; p++) dst[p * MR + i] = 0.f;
    if (cvt) cvt(kc, MR, dst);
  }
}

// C (m x n, row stride ldc) = A B with B already packed by pack_b; `pack_a(m0, mc, p0, kc, dst)`
// packs rows [m0, m0 + mc) and columns [p0, p0 + kc) of A. Work is split over row blocks and,
// when there are too few of them for the threads, over column chunks too.
template <class PackA>
void gemm_packed_b(const GemmUkernel& uk, long m, long n, long k, const float* bp, float* c, long ldc, PackA pack_a, int threads) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (long i = 0; i < m; i++) std::memset(c + i * ldc, 0, n * sizeof(float));
    return;
  }
  const long MR = uk.mr, NR = uk.nr;
  const GemmUkernelFn micro = uk.fn;
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
  pool().run(items > 1 ? threads : 1, body);
}

struct Pixel {
  long base;  // offset of x[n, ih0, iw0, 0] (may point outside a row: only used when in bounds)
  int ih0, iw0;
};

inline Pixel pixel_of(const ConvShape& s, long m) {
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
// Taps of one kernel row that fall inside the image are contiguous in NHWC, so they copy as one run.
inline void gather_row(const float* x, const ConvShape& s, const Pixel& px, long k0, long len, float* dst, long stride) {
  // Divide once, then walk the taps (kh, kw) and channel runs incrementally.
  const long tap0 = k0 / s.ci;
  long c0 = k0 % s.ci;
  int kh = static_cast<int>(tap0 / s.kw), kw = static_cast<int>(tap0 % s.kw);
  // Taps kw < kw_end of a row read columns inside the image (those left of it are handled as padding).
  const int kw_end = std::min(s.kw, s.w - px.iw0);
  long k = k0;
  const long end = k0 + len;
  while (k < end) {
    const int ih = px.ih0 + kh, iw = px.iw0 + kw;
    float* d = dst + (k - k0) * stride;
    if (ih >= 0 && ih < s.h && iw >= 0 && kw < kw_end) {
      const long run = std::min<long>(static_cast<long>(kw_end - kw) * s.ci - c0, end - k);
      const float* src = x + px.base + (static_cast<long>(kh) * s.w + kw) * s.ci + c0;
      if (stride == 1) {
        std::memcpy(d, src, run * sizeof(float));
      } else {
        for (long t = 0; t < run; t++) d[t * stride] = src[t];
      }
      k += run;
      const long pos = c0 + run;
      kw += static_cast<int>(pos / s.ci);
      c0 = pos % s.ci;
    } else {
      const long run = std::min<long>(s.ci - c0, end - k);
      for (long t = 0; t < run; t++) d[t * stride] = 0.f;
      k += run;
      c0 = 0;
      kw++;
    }
    if (kw == s.kw) {
      kw = 0;
      kh++;
    }
  }
}

inline bool pointwise(const ConvShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && s.oh == s.h && s.ow == s.w;
}

// Adds dcol rows [m0, m0 + rows) (row stride k) onto the input pixels their taps read.
void scatter_rows(const ConvShape& s, const float* cb, long k, long m0, long rows, float* dx) {
  for (long i = 0; i < rows; i++) {
    const Pixel px = pixel_of(s, m0 + i);
    const float* src = cb + i * k;
    for (int kh = 0; kh < s.kh; kh++) {
      const int ih = px.ih0 + kh;
      if (ih < 0 || ih >= s.h) continue;
      for (int kw = 0; kw < s.kw; kw++) {
        const int iw = px.iw0 + kw;
        if (iw < 0 || iw >= s.w) continue;
        float* __restrict d = dx + px.base + (static_cast<long>(kh) * s.w + kw) * s.ci;
        const float* __restrict g = src + (static_cast<long>(kh) * s.kw + kw) * s.ci;
        for (long c = 0; c < s.ci; c++) d[c] += g[c];
      }
    }
  }
}

}  // namespace

void gemm_dense_a(const GemmUkernel& uk, long m, long n, long k, const float* a, long lda, const float* bp, float* c, long ldc, int threads) {
  gemm_packed_b(uk, m, n, k, bp, c, ldc, [&](long m0, long mc, long p0, long kc, float* dst) { pack_a_dense(uk.mr, a + m0 * lda + p0, lda, 1, mc, kc, dst, uk.pack); }, threads);
}

void matmul(const GemmUkernel& uk, const float* a, const float* b, float* c, long batch, long m, long k, long n, bool ta,
            bool tb, long stride_a, long stride_b, int threads) {
  static thread_local Scratch bbuf;
  for (long i = 0; i < batch; i++) {
    const float* ai = a + i * stride_a;
    const float* bi = b + i * stride_b;
    float* bp = bbuf.get(round_up(n, uk.nr) * std::max<long>(k, 1));
    if (i == 0 || stride_b != 0) pack_b(uk.nr, bi, tb ? 1 : n, tb ? k : 1, k, n, bp, threads, uk.pack);
    const long ars = ta ? 1 : k, acs = ta ? m : 1;
    gemm_packed_b(uk, m, n, k, bp, c + i * m * n, n,
                  [&](long m0, long mc, long p0, long kc, float* dst) { pack_a_dense(uk.mr, ai + m0 * ars + p0 * acs, ars, acs, mc, kc, dst, uk.pack); },
                  threads);
  }
}

// y = conv2d(x, w): rows are output pixels, columns output channels, depth kh * kw * ci.
void conv2d(const GemmUkernel& uk, const float* x, const float* w, float* y, const ConvShape& s, int threads) {
  if (winograd_runs(uk, s)) {
    conv2d_winograd(uk, x, w, false, y, s, threads);
    return;
  }
  const long MR = uk.mr;
  const long m = static_cast<long>(s.n) * s.oh * s.ow, k = static_cast<long>(s.kh) * s.kw * s.ci, n = s.co;
  static thread_local Scratch bbuf;
  float* bp = bbuf.get(round_up(n, uk.nr) * std::max<long>(k, 1));
  pack_b(uk.nr, w, n, 1, k, n, bp, threads, uk.pack);
  if (pointwise(s)) {
    gemm_packed_b(uk, m, n, k, bp, y, n, [&](long m0, long mc, long p0, long kc, float* dst) { pack_a_dense(MR, x + m0 * k + p0, k, 1, mc, kc, dst, uk.pack); }, threads);
    return;
  }
  gemm_packed_b(uk, m, n, k, bp, y, n,
                [&](long m0, long mc, long p0, long kc, float* dst) {
                  // Each pixel's values gathered as a contiguous row, then transposed into the strip.
                  static thread_local Scratch rowbuf;
                  float* rows = rowbuf.get(MR * kc);
                  for (long st = 0; st < mc; st += MR) {
                    float* d = dst + st * kc;
                    const long mr = std::min<long>(MR, mc - st);
                    for (long i = 0; i < mr; i++) gather_row(x, s, pixel_of(s, m0 + st + i), p0, kc, rows + i * kc, 1);
                    rows_to_strip(rows, kc, mr, kc, d, MR);
                    for (long i = mr; i < MR; i++)
                      for (long p = 0; p < kc; p++) d[p * MR + i] = 0.f;
                    if (uk.pack) uk.pack(kc, MR, d);
                  }
                },
                threads);
}

// dx = conv2d's input gradient: dcol = dy w^T (rows output pixels, columns kh * kw * ci), then each
// row is added back onto the input pixels its taps read. Threads own whole images, so no two
// threads ever add to the same dx element.
void conv2d_grad_input(const GemmUkernel& uk, const float* dy, const float* w, float* dx, const ConvShape& s, int threads) {
  if (winograd_runs(uk, s)) {
    // Stride 1: dx is dy convolved with the filter turned 180 degrees, its channel axes swapped,
    // padded by 2 - p on the top and left.
    const ConvShape g{s.n, s.oh, s.ow, s.co, 3, 3, s.ci, s.h, s.w, 1, 1, 2 - s.pt, 2 - s.pl};
    conv2d_winograd(uk, dy, w, true, dx, g, threads);
    return;
  }
  const long MR = uk.mr, NR = uk.nr;
  const long m = static_cast<long>(s.n) * s.oh * s.ow, k = static_cast<long>(s.kh) * s.kw * s.ci, co = s.co;
  static thread_local Scratch bbuf;
  float* bp = bbuf.get(round_up(k, NR) * std::max<long>(co, 1));
  pack_b(NR, w, 1, co, co, k, bp, threads, uk.pack);  // w^T: element (p = output channel, j = k) at w[j * co + p]
  auto pack_dy = [&](long m0, long mc, long p0, long kc, float* dst) { pack_a_dense(MR, dy + m0 * co + p0, co, 1, mc, kc, dst, uk.pack); };
  if (pointwise(s)) {
    gemm_packed_b(uk, m, k, co, bp, dx, k, pack_dy, threads);
    return;
  }
  std::memset(dx, 0, static_cast<size_t>(s.n) * s.h * s.w * s.ci * sizeof(float));
  const long ohw = static_cast<long>(s.oh) * s.ow;
  if (m * k <= (1L << 21)) {
    // Small layers (few output pixels per image): one GEMM over every row fills the register
    // tiles and splits across threads by columns; then each image's rows are added back.
    static thread_local Scratch dcol;
    float* cb = dcol.get(m * k);
    gemm_packed_b(uk, m, k, co, bp, cb, k, pack_dy, threads);
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
            uk.fn(kc, ap + i * kc, bs, cb + i * k + j0, k, static_cast<int>(std::min<long>(MR, rows - i)), nr, p0 > 0);
        }
      }
      scatter_rows(s, cb, k, m0, rows, dx);
    }
  });
}

// dw = im2col(x)^T dy: rows kh * kw * ci, columns co, depth the output pixels. Threads own ranges
// of rows, so each sums its own rows over every pixel and nothing is reduced afterwards.
void conv2d_grad_filter(const GemmUkernel& uk, const float* x, const float* dy, float* dw, const ConvShape& s, int threads) {
  if (winograd_filter_runs(uk, s)) {
    conv2d_grad_filter_winograd(uk, x, dy, dw, s, threads);
    return;
  }
  const long MR = uk.mr, NR = uk.nr;
  const long p = static_cast<long>(s.n) * s.oh * s.ow, k = static_cast<long>(s.kh) * s.kw * s.ci, co = s.co;
  std::memset(dw, 0, static_cast<size_t>(k) * co * sizeof(float));
  if (p == 0) return;
  const long strips = cdiv(k, MR), npad = round_up(co, NR);
  // Items are groups of up to 16 row strips, a multiple of the threads in number: each packs dy once
  // per pixel block for all its strips, and gathers each pixel's rows of the group in one pass.
  const long ngroups = round_up(std::max<long>(threads, cdiv(strips, 16)), std::max(threads, 1));
  const long group = cdiv(strips, std::min(ngroups, strips));
  const long groups = cdiv(strips, group), width = group * MR;
  for_items(groups, threads, [&](int, long gi) {
    static thread_local Scratch abuf, bbuf, rowbuf;
    float* ap = abuf.get(width * KC);
    float* bp = bbuf.get(npad * KC);
    float* row = rowbuf.get(width);
    const long s0 = gi * group, s1 = std::min(strips, s0 + group);
    const long r0 = s0 * MR, rows = std::min(k, s1 * MR) - r0;
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
        if (uk.pack) uk.pack(kc, NR, d);
      }
      // Each pixel's im2col values for the group's rows, then dealt into the strips' panels.
      for (long q = 0; q < kc; q++) {
        gather_row(x, s, pixel_of(s, p0 + q), r0, rows, row, 1);
        for (long t = rows; t < (s1 - s0) * MR; t++) row[t] = 0.f;
        for (long st = 0; st < s1 - s0; st++) std::memcpy(ap + st * MR * kc + q * MR, row + st * MR, MR * sizeof(float));
      }
      for (long st = s0; st < s1; st++) {
        const long k0 = st * MR, mr = std::min<long>(MR, k - k0);
        float* a = ap + (st - s0) * MR * kc;
        if (uk.pack) uk.pack(kc, MR, a);
        for (long j0 = 0; j0 < co; j0 += NR)
          uk.fn(kc, a, bp + j0 * kc, dw + k0 * co + j0, co, static_cast<int>(mr), static_cast<int>(std::min<long>(NR, co - j0)), true);
      }
    }
  });
}

}  // namespace mococxr
