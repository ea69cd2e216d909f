// Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016)
// for 3x3 stride-1 convolutions: each 2x2 block of outputs costs 16 products per channel pair
// instead of 36, in 16 GEMMs (one per point of the 4x4 transform) through the same microkernel
// as every other product here. A block of tiles is transformed, multiplied and transformed back
// while it sits in L2, so no transformed tensor ever reaches memory.
//   U = G g G^T (filter), V = B^T d B (4x4 input patch), y = A^T (U . V) A (summed over channels).
// The transforms are compiled once (baseline) and the sums over channels are the microkernel's, in
// order, so the bits are the same at any thread count and on AVX-512 and AVX2.
#include "kernels.h"

namespace mococxr {
namespace {

constexpr long KC = 256;  // as gemm.cc: depth of one microkernel call

// U[xi][cin][cout] (row-major per xi) from the 3x3 filter g(kh, kw, cin, cout). The input-gradient
// form reads w rotated by 180 degrees with its channel axes swapped: g(kh, kw, a, b) = w[2-kh][2-kw][b][a].
void filter_transform(const float* w, long cin, long cout, bool flip, float* u, int threads) {
  for_items(cin, threads, [&](int, long a) {
    for (long b = 0; b < cout; b++) {
      float g[3][3];
      for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
          g[r][c] = flip ? w[((2 - r) * 3 + (2 - c)) * cin * cout + b * cin + a] : w[(r * 3 + c) * cin * cout + a * cout + b];
      float t[4][3];  // G g
      for (int c = 0; c < 3; c++) {
        t[0][c] = g[0][c];
        t[1][c] = 0.5f * (g[0][c] + g[1][c] + g[2][c]);
        t[2][c] = 0.5f * (g[0][c] - g[1][c] + g[2][c]);
        t[3][c] = g[2][c];
      }
      for (int r = 0; r < 4; r++) {  // (G g) G^T
        const float v[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]), 0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
        for (int c = 0; c < 4; c++) u[((r * 4 + c) * cin + a) * cout + b] = v[c];
      }
    }
  });
}

struct Tiles {
  long th, tw, count;  // tiles per column and row of one image, all tiles of the batch
};

typedef float v4f __attribute__((vector_size(16)));
typedef float v4fu __attribute__((vector_size(16), aligned(4), may_alias));

// Four channels at a time, or one: the transforms below are written once for both.
struct Quad {
  typedef v4f V;
  static V load(const float* p) { return *reinterpret_cast<const v4fu*>(p); }
  static void store(float* p, V v) { *reinterpret_cast<v4fu*>(p) = v; }
};
struct One {
  typedef float V;
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
};

// op.template at<Quad>(c) for c = 0, 4, ... while four channels remain, then op.template at<One>(c).
template <class Op>
inline void over_channels(long n, const Op& op) {
  long c = 0;
  for (; c + 4 <= n; c += 4) op.template at<Quad>(c);
  for (; c < n; c++) op.template at<One>(c);
}

// V = B^T d B for one 4x4 patch (src[a * 4 + b]: its pixel (a, b), n channels); out[xi * stride + c]
// receives point xi.
struct InputTransform {
  const float* const* src;
  float* out;
  long stride;
  template <class L>
  void at(long c) const {
    typename L::V d[4][4];
    for (int k = 0; k < 16; k++) d[k / 4][k % 4] = L::load(src[k] + c);
    typename L::V bt[4][4];  // B^T d
    for (int b = 0; b < 4; b++) {
      bt[0][b] = d[0][b] - d[2][b];
      bt[1][b] = d[1][b] + d[2][b];
      bt[2][b] = d[2][b] - d[1][b];
      bt[3][b] = d[1][b] - d[3][b];
    }
    for (int a = 0; a < 4; a++) {  // (B^T d) B
      float* o = out + (a * 4) * stride + c;
      L::store(o, bt[a][0] - bt[a][2]);
      L::store(o + stride, bt[a][1] + bt[a][2]);
      L::store(o + 2 * stride, bt[a][2] - bt[a][1]);
      L::store(o + 3 * stride, bt[a][1] - bt[a][3]);
    }
  }
};

inline void input_transform(const float* const* src, long n, float* out, long stride) { over_channels(n, InputTransform{src, out, stride}); }

// y = A^T M A for one tile: m[xi * stride + c] holds point xi; y00 is the tile's top-left output
// (n channels), y10 the row below (null past the image's last row); `right` says whether the
// right column is inside the image.
struct OutputTransform {
  const float* m;
  long stride, n;
  float *y00, *y10;
  bool right;
  template <class L>
  void at(long c) const {
    typename L::V q[4][4];
    for (int k = 0; k < 16; k++) q[k / 4][k % 4] = L::load(m + k * stride + c);
    typename L::V aq[2][4];  // A^T q
    for (int b = 0; b < 4; b++) {
      aq[0][b] = q[0][b] + q[1][b] + q[2][b];
      aq[1][b] = q[1][b] - q[2][b] - q[3][b];
    }
    L::store(y00 + c, aq[0][0] + aq[0][1] + aq[0][2]);
    if (right) L::store(y00 + n + c, aq[0][1] - aq[0][2] - aq[0][3]);
    if (y10) {
      L::store(y10 + c, aq[1][0] + aq[1][1] + aq[1][2]);
      if (right) L::store(y10 + n + c, aq[1][1] - aq[1][2] - aq[1][3]);
    }
  }
};

// The filter-gradient transform of dy: W = A dY A^T for one 2x2 block (dy00, dy01, dy10, dy11, n
// channels; an output outside the image reads zeros); out[xi * stride + c] receives point xi.
struct DyTransform {
  const float* const* src;
  float* out;
  long stride;
  template <class L>
  void at(long c) const {
    typename L::V d[2][2];
    for (int k = 0; k < 4; k++) d[k / 2][k % 2] = L::load(src[k] + c);
    typename L::V ad[4][2];  // A dY
    for (int b = 0; b < 2; b++) {
      ad[0][b] = d[0][b];
      ad[1][b] = d[0][b] + d[1][b];
      ad[2][b] = d[0][b] - d[1][b];
      ad[3][b] = -d[1][b];
    }
    for (int a = 0; a < 4; a++) {  // (A dY) A^T
      float* o = out + (a * 4) * stride + c;
      L::store(o, ad[a][0]);
      L::store(o + stride, ad[a][0] + ad[a][1]);
      L::store(o + 2 * stride, ad[a][0] - ad[a][1]);
      L::store(o + 3 * stride, -ad[a][1]);
    }
  }
};

// Where tile g's 2x2 outputs sit: image, top row, left column.
struct TileAt {
  long img, oy, ox;
};
inline TileAt tile_at(const Tiles& t, long g) {
  const long r = g % (t.th * t.tw);
  return {g / (t.th * t.tw), (r / t.tw) * 2, (r % t.tw) * 2};
}

// Tile g's outputs from its 16 points (m[xi * stride + c]), those inside the image stored into y.
inline void store_tile(const float* m, long stride, const ConvShape& s, const Tiles& t, long g, float* y) {
  const TileAt at = tile_at(t, g);
  float* y00 = y + ((at.img * s.oh + at.oy) * s.ow + at.ox) * s.co;
  over_channels(s.co, OutputTransform{m, stride, s.co, y00, at.oy + 1 < s.oh ? y00 + s.ow * s.co : nullptr, at.ox + 1 < s.ow});
}

// The 16 pixels of tile g's 4x4 input patch (channel c0 on), `zeros` where the patch leaves the image.
inline void patch_pixels(const float* x, const ConvShape& s, const Tiles& t, long g, long c0, const float* zeros, const float* src[16]) {
  const TileAt at = tile_at(t, g);
  const long img = at.img, iy0 = at.oy - s.pt, ix0 = at.ox - s.pl;
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 4; b++) {
      const long iy = iy0 + a, ix = ix0 + b;
      src[a * 4 + b] = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w ? x + ((img * s.h + iy) * s.w + ix) * s.ci + c0 : zeros;
    }
}

// kc rows of `width` values (row q at src + q * ld) as one strip [kc][R], zero past width; then
// converted by `cvt` where the microkernel reads another layout.
inline void copy_strip(const float* src, long ld, long width, long kc, long R, float* dst, GemmPackFn cvt) {
  for (long q = 0; q < kc; q++) {
    std::memcpy(dst + q * R, src + q * ld, width * sizeof(float));
    for (long i = width; i < R; i++) dst[q * R + i] = 0.f;
  }
  if (cvt) cvt(kc, R, dst);
}

}  // namespace

ConvAlgorithm conv_algorithm = ConvAlgorithm::Auto;

// 3x3 stride 1 on fp32 products, with convAlgorithm 'auto', and only with 1,024 output pixels or
// more: below that the filter transform costs more than the products save (ResNet18's
// 256-channel layer at 64 px, 256 outputs, took 3-4 ms against 2 ms direct).
bool winograd_runs(const GemmUkernel& uk, const ConvShape& s) {
  return conv_algorithm == ConvAlgorithm::Auto && !uk.pack && s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 &&
         s.pt <= 2 && s.pl <= 2 && s.oh > 0 && s.ow > 0 && static_cast<long>(s.n) * s.oh * s.ow >= 1024;
}

// The filter gradient's tiles are its GEMMs' depth: with under 512 of them the transforms cost
// more than the products save (ResNet18's 128-channel layer at 64 px, 256 tiles, ran 1.2x slower).
// Wide layers (ci + co > 512) stay direct: their partial sums would take 16 ci x co per part.
bool winograd_filter_runs(const GemmUkernel& uk, const ConvShape& s) {
  const long tiles = static_cast<long>(s.n) * ((s.oh + 1) / 2) * ((s.ow + 1) / 2);
  return winograd_runs(uk, s) && tiles >= 512 && s.ci + s.co <= 512;
}

// y = conv2d(x, g) for a 3x3 stride-1 shape, g read from w as filter_transform says (`flip` for the
// input gradient, whose shape the caller has already turned round).
void conv2d_winograd(const GemmUkernel& uk, const float* x, const float* w, bool flip, float* y, const ConvShape& s, int threads) {
  const long MR = uk.mr, NR = uk.nr, cin = s.ci, cout = s.co;
  const Tiles t{(s.oh + 1) / 2, (s.ow + 1) / 2, static_cast<long>(s.n) * ((s.oh + 1) / 2) * ((s.ow + 1) / 2)};
  const long npad = round_up(cout, NR);
  // The 16 filter matrices, transformed then packed as the microkernel's B panels.
  static thread_local Scratch ubuf, upacked;
  float* u = ubuf.get(16 * cin * cout);
  filter_transform(w, cin, cout, flip, u, threads);
  float* bp = upacked.get(16 * npad * cin);
  for (int xi = 0; xi < 16; xi++) pack_b(NR, u + xi * cin * cout, cout, 1, cin, cout, bp + xi * npad * cin, threads, uk.pack);
  // Tiles per block: the block's 16 transformed inputs and 16 products stay within about 768 KiB.
  const long per = std::max<long>(1, (196608 / (16 * (cin + cout))) / MR);
  if (per < 2) {
    // Wide layers (ci + co > 512): blocks of a few tiles would stream the 16 filter panels again
    // for little work, so every tile is transformed first and each point is one GEMM over all
    // tiles, split across the threads as any other GEMM.
    static thread_local Scratch vall, mall, zb;
    float* v = vall.get(16 * t.count * cin);   // v[xi][tile][cin]
    float* m = mall.get(16 * t.count * cout);  // m[xi][tile][cout]
    float* zeros = zb.get(cin);
    std::memset(zeros, 0, cin * sizeof(float));
    const long chunk = 32;
    for_items(cdiv(t.count, chunk), threads, [&](int, long it) {
      for (long g = it * chunk; g < std::min(t.count, (it + 1) * chunk); g++) {
        const float* src[16];
        patch_pixels(x, s, t, g, 0, zeros, src);
        input_transform(src, cin, v + g * cin, t.count * cin);
      }
    });
    for (int xi = 0; xi < 16; xi++)
      gemm_dense_a(uk, t.count, cout, cin, v + xi * t.count * cin, cin, bp + xi * npad * cin, m + xi * t.count * cout, cout, threads);
    for_items(cdiv(t.count, chunk), threads, [&](int, long it) {
      for (long g = it * chunk; g < std::min(t.count, (it + 1) * chunk); g++) store_tile(m + g * cout, t.count * cout, s, t, g, y);
    });
    return;
  }
  const long T = std::min(per * MR, round_up(t.count, MR));
  const long blocks = cdiv(t.count, T);
  for_items(blocks, threads, [&](int, long blk) {
    static thread_local Scratch vbuf, mbuf, rowbuf, zbuf;
    const long g0 = blk * T, nt = std::min(T, t.count - g0), tpad = round_up(nt, MR);
    float* v = vbuf.get(16 * tpad * cin);  // v[xi] holds tpad / MR strips of [cin][MR]
    float* m = mbuf.get(16 * tpad * cout);  // m[xi][tile][cout]
    float* rows = rowbuf.get(16 * MR * cin);  // one strip's tiles transformed: rows[xi][tile][cin]
    float* zeros = zbuf.get(cin);
    std::memset(zeros, 0, cin * sizeof(float));
    for (long st = 0; st < tpad; st += MR) {
      for (long i = st; i < st + MR; i++) {
        float* out = rows + (i - st) * cin;  // + xi * MR * cin
        if (i >= nt) {  // rows past the last tile: zeros, so the products there are finite
          for (int xi = 0; xi < 16; xi++) std::memset(out + xi * MR * cin, 0, cin * sizeof(float));
          continue;
        }
        const float* src[16];
        patch_pixels(x, s, t, g0 + i, 0, zeros, src);
        input_transform(src, cin, out, MR * cin);
      }
      for (int xi = 0; xi < 16; xi++) rows_to_strip(rows + xi * MR * cin, cin, MR, cin, v + xi * tpad * cin + st * cin, MR);
    }
    // The 16 products, each tpad x cout over depth cin.
    for (int xi = 0; xi < 16; xi++) {
      float* vx = v + xi * tpad * cin;
      if (uk.pack)
        for (long st = 0; st < tpad; st += MR)
          for (long p0 = 0; p0 < cin; p0 += KC) uk.pack(std::min(KC, cin - p0), MR, vx + st * cin + p0 * MR);
      const float* bx = bp + xi * npad * cin;
      float* mx = m + xi * tpad * cout;
      for (long p0 = 0; p0 < cin; p0 += KC) {
        const long kc = std::min(KC, cin - p0);
        for (long j0 = 0; j0 < cout; j0 += NR) {
          const float* bs = bx + p0 * npad + (j0 / NR) * kc * NR;
          const int nr = static_cast<int>(std::min<long>(NR, cout - j0));
          for (long i = 0; i < tpad; i += MR)
            uk.fn(kc, vx + i * cin + p0 * MR, bs, mx + i * cout + j0, cout, static_cast<int>(MR), nr, p0 > 0);
        }
      }
    }
    // y = A^T M A for each tile, the outputs inside the image stored.
    for (long i = 0; i < nt; i++) store_tile(m + i * cout, tpad * cout, s, t, g0 + i, y);
  });
}

// dw = conv2d's filter gradient for a 3x3 stride-1 shape: dg = G^T [sum over tiles of V . W] G with
// V = B^T d B (input patch) and W = A dY A^T (the tile's 2x2 of dy): 16 GEMMs with the tiles as
// their depth. The tiles are split into parts fixed by the shape, each summed in order into its own
// partial, and the partials added in part order, so the bits do not depend on the threads.
void conv2d_grad_filter_winograd(const GemmUkernel& uk, const float* x, const float* dy, float* dw, const ConvShape& s, int threads) {
  const long MR = uk.mr, NR = uk.nr, cin = s.ci, cout = s.co;
  const Tiles t{(s.oh + 1) / 2, (s.ow + 1) / 2, static_cast<long>(s.n) * ((s.oh + 1) / 2) * ((s.ow + 1) / 2)};
  const long cpad = round_up(cin, MR), npad = round_up(cout, NR);
  // Parts of at least 256 tiles (at most 8), and input channels in groups of strips, so that
  // parts x groups gives the threads work; only the dy transform repeats across groups.
  const long parts = std::max<long>(1, std::min<long>(8, t.count / 256));
  const long strips = cpad / MR;
  const long groups = std::min(strips, std::max<long>(1, cdiv(4, parts)));
  const long gstrips = cdiv(strips, groups);
  const long per_part = cdiv(t.count, parts);
  static thread_local Scratch sbuf;
  float* partial = sbuf.get(parts * 16 * cpad * npad);  // [part][xi][cin (padded)][cout (padded)]
  for_items(parts * groups, threads, [&](int, long item) {
    static thread_local Scratch vbuf, wbuf, apbuf, bpbuf, zbuf;
    const long part = item / groups, grp = item % groups;
    const long c0 = grp * gstrips * MR, c1 = std::min(cin, (grp + 1) * gstrips * MR);
    if (c0 >= c1) return;
    const long cw = c1 - c0, cwpad = round_up(cw, MR);
    const long g_begin = part * per_part, g_end = std::min(t.count, g_begin + per_part);
    float* zeros = zbuf.get(std::max(cin, cout));
    std::memset(zeros, 0, std::max(cin, cout) * sizeof(float));
    float* v = vbuf.get(16 * KC * cw);      // v[xi][tile][cw]
    float* w = wbuf.get(16 * KC * cout);    // w[xi][tile][cout]
    float* ap = apbuf.get(cwpad * KC);      // one xi's A strips: [strip][tile][MR]
    float* bp = bpbuf.get(npad * KC);       // one xi's B strips: [strip][tile][NR]
    float* sp = partial + part * 16 * cpad * npad;
    for (long g0 = g_begin; g0 < g_end; g0 += KC) {
      const long kc = std::min(KC, g_end - g0);
      for (long i = 0; i < kc; i++) {
        const float* src[16];
        patch_pixels(x, s, t, g0 + i, c0, zeros, src);
        input_transform(src, cw, v + i * cw, KC * cw);
        const TileAt at = tile_at(t, g0 + i);
        const float* dsrc[4];
        for (int a = 0; a < 2; a++)
          for (int b = 0; b < 2; b++)
            dsrc[a * 2 + b] = at.oy + a < s.oh && at.ox + b < s.ow ? dy + ((at.img * s.oh + at.oy + a) * s.ow + at.ox + b) * cout : zeros;
        over_channels(cout, DyTransform{dsrc, w + i * cout, KC * cout});
      }
      for (int xi = 0; xi < 16; xi++) {
        const float* vx = v + xi * KC * cw;
        const float* wx = w + xi * KC * cout;
        // A = V^T (rows the group's channels, depth the tiles), B = W: both copied into strips.
        for (long st = 0; st < cwpad; st += MR) copy_strip(vx + st, cw, std::min(MR, cw - st), kc, MR, ap + st * kc, uk.pack);
        for (long j0 = 0; j0 < npad; j0 += NR) copy_strip(wx + j0, cout, std::min(NR, cout - j0), kc, NR, bp + j0 * kc, uk.pack);
        float* sx = sp + xi * cpad * npad + c0 * npad;
        for (long st = 0; st < cwpad; st += MR)
          for (long j0 = 0; j0 < npad; j0 += NR)
            uk.fn(kc, ap + st * kc, bp + j0 * kc, sx + st * npad + j0, npad, static_cast<int>(MR), static_cast<int>(NR), g0 > g_begin);
      }
    }
  });
  // The partials in part order, then dg = G^T S G into dw[kh][kw][cin][cout].
  for_items(cin, threads, [&](int, long a) {
    for (long b = 0; b < cout; b++) {
      float q[4][4];
      for (int xi = 0; xi < 16; xi++) {
        float sum = 0.f;
        for (long part = 0; part < parts; part++) sum += partial[((part * 16 + xi) * cpad + a) * npad + b];
        q[xi / 4][xi % 4] = sum;
      }
      float gt[3][4];  // G^T S
      for (int c = 0; c < 4; c++) {
        gt[0][c] = q[0][c] + 0.5f * (q[1][c] + q[2][c]);
        gt[1][c] = 0.5f * (q[1][c] - q[2][c]);
        gt[2][c] = 0.5f * (q[1][c] + q[2][c]) + q[3][c];
      }
      for (int r = 0; r < 3; r++) {  // (G^T S) G
        dw[((r * 3 + 0) * cin + a) * cout + b] = gt[r][0] + 0.5f * (gt[r][1] + gt[r][2]);
        dw[((r * 3 + 1) * cin + a) * cout + b] = 0.5f * (gt[r][1] - gt[r][2]);
        dw[((r * 3 + 2) * cin + a) * cout + b] = 0.5f * (gt[r][1] + gt[r][2]) + gt[r][3];
      }
    }
  });
}

}  // namespace mococxr
