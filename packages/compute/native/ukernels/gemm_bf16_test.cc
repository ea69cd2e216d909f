// The bf16 GEMM microkernel (precision 'bf16', cpu.h's bf16_isa()) on its own, tiled over C as the
// drivers tile it, with its panels packed as the drivers pack them (fp32 strips, then its `pack`):
//  - pack: every bf16 of the panel bit for bit against round-to-nearest-even of its fp32 source,
//    pairs interleaved, an odd kc's last pair padded with zero;
//  - the product against a double-precision sum of the same bf16-rounded inputs, within the fp32
//    accumulation bound (kc + 2) u sum |a b| (u = 2^-24): the inputs are all that is rounded to bf16;
//  - the product against the fp32 inputs in double, within bf16's bound 2^-7 (1 + 2^-9) sum |a b|
//    plus the accumulation bound, and outside the accumulation bound somewhere (it does round);
//  - on edge shapes (m and n short of, equal to and past the tile, k = 1 up to 2048, odd and even),
//    storing and accumulating, with C's elements outside the product untouched.
// Compiled and run by src/ukernels.test.ts with the addon's flags.
//
//   gemm_bf16_test
//
// One line: "ok <name>: ...", "FAIL <name>: ..." with the first failures, or "not run <name>: this
// CPU lacks <features>" (cpu.cc decides, as it does for dispatch). Exits 1 when it failed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../cpu.h"

#if defined(__x86_64__)
#define MOCO_ARCH_NAME "x86-64"
#else
#define MOCO_ARCH_NAME "not x86-64"
#endif
#include "ukernel_test.h"

namespace {

using mococxr::GemmUkernel;
using mococxr::test::Buf;
using mococxr::test::Rng;
using mococxr::test::bits;

// fp32 to bf16, round to nearest, ties to even (NaN stays a quiet NaN).
uint16_t bf16_rne(float f) {
  const uint32_t u = bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<std::string> failures;
long failed = 0;

void report(const std::string& line) {
  failed++;
  if (failures.size() < 6) failures.push_back(line);
}

// pack on strips of `rows` (MR or NR) at depth kc: values with every rounding case, ties included.
void check_pack(const GemmUkernel& uk, long rows, long kc, Rng& rng) {
  Buf panel(kc * rows);
  std::vector<float> src(kc * rows);
  for (long e = 0; e < kc * rows; e++) {
    float v = rng.value();
    uint32_t u = bits(v);
    const int kind = int(rng.next() % 4);
    if (kind == 0) u = (u & 0xffff0000u) | 0x8000u;  // a tie: to even
    if (kind == 1) u = (u & 0xffff0000u) | 0x8001u;  // just past a tie: up
    if (kind == 2) u = (u & 0xffff0000u) | 0x7fffu;  // just short of one: down
    std::memcpy(&v, &u, 4);
    src[e] = v;
  }
  std::memcpy(panel.p, src.data(), sizeof(float) * kc * rows);
  uk.pack(kc, rows, panel.p);
  const uint16_t* out = reinterpret_cast<const uint16_t*>(panel.p);
  for (long q = 0; q < (kc + 1) / 2; q++)
    for (long r = 0; r < rows; r++)
      for (long h = 0; h < 2; h++) {
        const long p = 2 * q + h;
        const uint16_t want = p < kc ? bf16_rne(src[p * rows + r]) : 0;
        const uint16_t got = out[(q * rows + r) * 2 + h];
        if (got != want) {
          char line[256];
          std::snprintf(line, sizeof line, "pack rows %ld kc %ld: step %ld row %ld is bf16 0x%04x, round to nearest even of %.9g is 0x%04x%s", rows, kc, p, r,
                        got, src[p < kc ? p * rows + r : 0], want, p < kc ? "" : " (padding: must be zero)");
          report(line);
          return;
        }
      }
}

struct Stats {
  long gemms = 0;
  bool rounds = false;  // some element outside the accumulation bound of the fp32-input sum
};

// One product C (+)= A B through the microkernel, A m x k and B k x n row-major; C has a row and
// five columns beyond m x n, which must come back untouched.
void check_gemm(const GemmUkernel& uk, long m, long n, long k, bool acc, Rng& rng, Stats* st) {
  const long MR = uk.mr, NR = uk.nr, ldc = n + 5, crows = m + 1;
  std::vector<float> a(m * k), b(k * n), c(crows * ldc);
  for (float& v : a) v = rng.value();
  for (float& v : b) v = rng.value();
  for (float& v : c) v = rng.value();
  const std::vector<float> c0 = c;
  // Panels as the drivers pack them: fp32 strips, rows past m and columns past n anything (NaN
  // here: computed, never stored), then converted by the microkernel's own pack.
  Buf ap(k * MR), bp(k * NR);
  for (long j0 = 0; j0 < n; j0 += NR) {
    for (long p = 0; p < k; p++)
      for (long j = 0; j < NR; j++) bp.p[p * NR + j] = j0 + j < n ? b[p * n + j0 + j] : NAN;
    uk.pack(k, NR, bp.p);
    for (long i0 = 0; i0 < m; i0 += MR) {
      for (long p = 0; p < k; p++)
        for (long i = 0; i < MR; i++) ap.p[p * MR + i] = i0 + i < m ? a[(i0 + i) * k + p] : NAN;
      uk.pack(k, MR, ap.p);
      uk.fn(k, ap.p, bp.p, c.data() + i0 * ldc + j0, ldc, int(std::min(MR, m - i0)), int(std::min(NR, n - j0)), acc);
    }
  }
  st->gemms++;
  const double u = std::ldexp(1.0, -24);
  for (long e = 0; e < crows * ldc; e++) {
    const long i = e / ldc, j = e % ldc;
    char line[320];
    if (i >= m || j >= n) {
      if (bits(c[e]) != bits(c0[e])) {
        std::snprintf(line, sizeof line, "m %ld n %ld k %ld: C[%ld][%ld] outside the product changed from %.9g to %.9g", m, n, k, i, j, c0[e], c[e]);
        report(line);
        return;
      }
      continue;
    }
    double exact16 = acc ? c0[e] : 0.0, exact32 = exact16, mag = std::fabs(exact16);
    for (long p = 0; p < k; p++) {
      const double x = a[i * k + p], y = b[p * n + j];
      exact16 += double(from_bf16(bf16_rne(float(x)))) * from_bf16(bf16_rne(float(y)));
      exact32 += x * y;
      mag += std::fabs(x * y);
    }
    const double accumulation = double(k + 2) * u * mag * 1.01;
    // Each input within 2^-8 relative of its bf16 (8 significant bits), so each product within 2^-7 (1 + 2^-9).
    const double bf16_inputs = std::ldexp(1.0, -7) * (1 + std::ldexp(1.0, -9)) * mag * 1.01;
    const double e16 = std::fabs(c[e] - exact16), e32 = std::fabs(c[e] - exact32);
    if (!(e16 <= accumulation) || !(e32 <= accumulation + bf16_inputs)) {
      std::snprintf(line, sizeof line,
                    "m %ld n %ld k %ld %s: C[%ld][%ld] = %.9g; bf16 inputs in double %.9g (off %.3g, bound %.3g); fp32 inputs %.9g (off %.3g, bound %.3g)",
                    m, n, k, acc ? "accumulating" : "storing", i, j, c[e], exact16, e16, accumulation, exact32, e32, accumulation + bf16_inputs);
      report(line);
      return;
    }
    if (e32 > accumulation) st->rounds = true;
  }
}

bool test(const GemmUkernel& uk) {
  if (!uk.pack) {
    std::printf("FAIL %s: has no pack, so its panels would be read as fp32\n", uk.name);
    return false;
  }
  Rng rng{0x62663136, 4};  // four decades: none near bf16's subnormals, which the instructions flush
  for (long rows : {long(uk.mr), long(uk.nr)})
    for (long kc : {1L, 2L, 3L, 17L, 256L, 257L}) check_pack(uk, rows, kc, rng);
  const long MR = uk.mr, NR = uk.nr, VL = NR / 2;
  const long ms[] = {1, MR - 1, MR, MR + 1, 2 * MR + 3};
  const long ns[] = {1, VL - 1, VL, VL + 1, NR - 1, NR, NR + 1, 2 * NR + 5};
  const long ks[] = {1, 2, 3, 17, 256, 257, 2048};
  Stats st;
  for (long k : ks)
    for (long m : ms)
      for (long n : ns)
        for (bool acc : {false, true}) check_gemm(uk, m, n, k, acc, rng, &st);
  if (failed == 0 && st.rounds) {
    std::printf("ok %s: pack bit for bit (round to nearest even, pairs, zero padding); %ld GEMMs (m 1..%ld, n 1..%ld, k 1..2048, storing and "
                "accumulating) within fp32 accumulation of the bf16-rounded inputs' exact sum and within bf16 rounding of the fp32 inputs'\n",
                uk.name, st.gemms, 2 * MR + 3, 2 * NR + 5);
    return true;
  }
  std::printf("FAIL %s: %ld failures%s\n", uk.name, failed, st.rounds ? "" : "; and no product differs from the fp32 inputs' beyond fp32 accumulation, so nothing was rounded to bf16");
  for (const std::string& f : failures) std::printf("  %s\n", f.c_str());
  return false;
}

}  // namespace

int main(int argc, char**) {
  if (argc > 1) {
    std::fprintf(stderr, "gemm_bf16_test takes no arguments\n");
    return 2;
  }
  const mococxr::Isa* isa = mococxr::bf16_isa();
  if (!isa) {
    // gemm.h's MOCO_HAVE_BF16: x86-64 and a compiler that knows AVX512_BF16; the line names both.
#if defined(__clang__)
    std::printf("none: no bf16 microkernel is built (%s, clang %d)\n", MOCO_ARCH_NAME, __clang_major__);
#else
    std::printf("none: no bf16 microkernel is built (%s, gcc %d)\n", MOCO_ARCH_NAME, __GNUC__);
#endif
    return 0;
  }
  const char* lacks[16];
  const size_t nl = mococxr::cpu_lacks(*isa, lacks, 16);
  if (nl > 0) {
    std::printf("not run %s: this CPU lacks", isa->gemm->name);
    for (size_t j = 0; j < nl && j < 16; j++) std::printf(" %s", lacks[j]);
    std::printf("\n");
    return 0;
  }
  return test(*isa->gemm) ? 0 : 1;
}
