// Each GEMM microkernel on its own against a plain triple-loop GEMM, bit for bit: C (+)= A B with
// the microkernel tiled over C as the drivers tile it (A packed in MR-row strips, B in NR-column
// strips), on edge shapes (m and n short of, equal to and past the tile, k = 1 up to 2048),
// storing and accumulating. The reference rounds as the microkernel declares (one FMA per step,
// or the product and the sum each rounded), so any other arithmetic, order or tile handling shows.
// Compiled and run by src/ukernels.test.ts with the addon's flags; the reference itself with
// -ffp-contract=off, so its unfused steps stay unfused.
//
//   gemm_f32_test [--ukernel gemm_f32_6x16__avx2]
//
// One line per microkernel built for this target (or the one named): "ok <name>: ...",
// "FAIL <name>: ..." with the first mismatches, or "not run <name>: this CPU lacks <features>"
// (cpu.cc decides, as it does for dispatch). Exits 1 when any microkernel failed, 2 on bad usage.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../cpu.h"
#include "ukernel_test.h"

namespace {

using mococxr::GemmUkernel;

using mococxr::test::Buf;
using mococxr::test::Rng;
using mococxr::test::bits;

// The plain triple loop: c[i][j] = (acc ? c[i][j] : 0) + sum over p in order of a[i][p] b[p][j].
void reference(bool fused, long m, long n, long k, const float* a, const float* b, float* c, long ldc, bool acc) {
  for (long i = 0; i < m; i++)
    for (long j = 0; j < n; j++) {
      float s = 0.f;
      for (long p = 0; p < k; p++) s = fused ? std::fma(a[i * k + p], b[p * n + j], s) : s + a[i * k + p] * b[p * n + j];
      c[i * ldc + j] = (acc ? c[i * ldc + j] : 0.f) + s;
    }
}

// The same product through `uk` alone. Panel rows past m and columns past n hold NaN: the
// microkernel computes them but must never store them.
void ukernel_gemm(const GemmUkernel& uk, long m, long n, long k, const float* a, const float* b, float* c, long ldc, bool acc) {
  const long MR = uk.mr, NR = uk.nr;
  Buf ap(k * MR), bp(k * NR);
  for (long j0 = 0; j0 < n; j0 += NR) {
    for (long p = 0; p < k; p++)
      for (long j = 0; j < NR; j++) bp.p[p * NR + j] = j0 + j < n ? b[p * n + j0 + j] : NAN;
    for (long i0 = 0; i0 < m; i0 += MR) {
      for (long p = 0; p < k; p++)
        for (long i = 0; i < MR; i++) ap.p[p * MR + i] = i0 + i < m ? a[(i0 + i) * k + p] : NAN;
      uk.fn(k, ap.p, bp.p, c + i0 * ldc + j0, ldc, int(std::min(MR, m - i0)), int(std::min(NR, n - j0)), acc);
    }
  }
}

struct Outcome {
  long gemms = 0;
  std::vector<std::string> failures;  // the first few
  long failed = 0;
};

// One case: C has a row and five columns beyond m x n, which must come back untouched.
void check(const GemmUkernel& uk, long m, long n, long k, bool acc, Rng& rng, Outcome* out) {
  const long ldc = n + 5, crows = m + 1;
  std::vector<float> a(m * k), b(k * n), c(crows * ldc);
  for (float& v : a) v = rng.value();
  for (float& v : b) v = rng.value();
  for (float& v : c) v = rng.value();
  std::vector<float> want = c;
  reference(uk.fused, m, n, k, a.data(), b.data(), want.data(), ldc, acc);
  ukernel_gemm(uk, m, n, k, a.data(), b.data(), c.data(), ldc, acc);
  out->gemms++;
  for (long e = 0; e < crows * ldc; e++) {
    if (bits(c[e]) == bits(want[e])) continue;
    out->failed++;
    if (out->failures.size() < 5) {
      char line[256];
      std::snprintf(line, sizeof line, "m %ld n %ld k %ld %s: C[%ld][%ld] = %.9g, reference %.9g%s", m, n, k, acc ? "accumulating" : "storing",
                    e / ldc, e % ldc, c[e], want[e], (e / ldc >= m || e % ldc >= n) ? " (outside the product: must be untouched)" : "");
      out->failures.push_back(line);
    }
    return;  // one line per case
  }
}

// The comparison can fail: on a full tile at k = 256, the other rounding (fused for an unfused
// microkernel, or the reverse) gives other bits somewhere.
bool other_rounding_differs(const GemmUkernel& uk) {
  Rng rng{7};
  const long m = uk.mr, n = uk.nr, k = 256;
  std::vector<float> a(m * k), b(k * n), c(m * n), other(m * n);
  for (float& v : a) v = rng.value();
  for (float& v : b) v = rng.value();
  ukernel_gemm(uk, m, n, k, a.data(), b.data(), c.data(), n, false);
  reference(!uk.fused, m, n, k, a.data(), b.data(), other.data(), n, false);
  return std::memcmp(c.data(), other.data(), c.size() * sizeof(float)) != 0;
}

bool test(const GemmUkernel& uk) {
  const long MR = uk.mr, NR = uk.nr, VL = NR / 2;
  const long ms[] = {1, MR - 1, MR, MR + 1, 2 * MR + 3};
  const long ns[] = {1, VL - 1, VL, VL + 1, NR - 1, NR, NR + 1, 2 * NR + 5};
  const long ks[] = {1, 2, 3, 17, 256, 257, 2048};
  Outcome out;
  Rng rng{0x6d6f636f};
  for (long k : ks)
    for (long m : ms)
      for (long n : ns)
        for (bool acc : {false, true})
          if (m >= 1 && n >= 1) check(uk, m, n, k, acc, rng, &out);
  const bool sensitive = other_rounding_differs(uk);
  if (out.failed == 0 && sensitive) {
    std::printf("ok %s: %ld GEMMs (m 1..%ld, n 1..%ld, k 1..2048, storing and accumulating) bit for bit against the triple loop, %s steps\n",
                uk.name, out.gemms, 2 * MR + 3, 2 * NR + 5, uk.fused ? "fused" : "unfused");
    return true;
  }
  std::printf("FAIL %s: %ld of %ld GEMMs differ from the triple loop%s\n", uk.name, out.failed, out.gemms,
              sensitive ? "" : "; and the other rounding gives the same bits, so the comparison could not tell");
  for (const std::string& f : out.failures) std::printf("  %s\n", f.c_str());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const char* only = nullptr;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--ukernel") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--ukernel gemm_f32_<MR>x<NR>__<isa>]\n", argv[0]);
      return 2;
    }
  }
  size_t n = 0;
  const mococxr::Isa* const* isas = mococxr::all_isas(&n);
  bool found = false, ok = true;
  for (size_t i = 0; i < n; i++) {
    const mococxr::Isa& isa = *isas[i];
    if (only && std::strcmp(isa.gemm->name, only) != 0) continue;
    found = true;
    if (std::strncmp(isa.gemm->name, "gemm_f32_", 9) != 0) {
      // Another number format (bf16) has its own rounding, so its own reference and test.
      std::printf("other %s: not an f32 microkernel, not checked here\n", isa.gemm->name);
      continue;
    }
    const char* lacks[16];
    const size_t nl = mococxr::cpu_lacks(isa, lacks, 16);
    if (nl > 0) {
      std::printf("not run %s: this CPU lacks", isa.gemm->name);
      for (size_t j = 0; j < nl && j < 16; j++) std::printf(" %s", lacks[j]);
      std::printf("\n");
      continue;
    }
    ok = test(*isa.gemm) && ok;
  }
  if (!found) {
    std::fprintf(stderr, "no microkernel named %s is built for this target\n", only);
    return 2;
  }
  return ok ? 0 : 1;
}
