// GFLOP/s of each GEMM microkernel on one core against the core's peak, as XNNPACK times each of
// its ukernels: full-tile calls at depth kc, accumulating into one C tile (as the drivers call it
// for every KC block after the first), A and B packed and resident in L1.
// Compiled and run by bench/ukernels.mjs with the addon's flags.
//
//   gemm_f32_bench [--ukernel NAME] [--kc 256] [--seconds 1] [--fma-units 2] [--ghz G]
//
// Peak = FMA units x lanes x 2 flops x clock, the core's peak at that vector width; an unfused
// microkernel (a multiply and an add per step) reaches it only where adds have units of their own
// (Zen 4 does; Skylake-X does not, and halves it). The clock is measured: a chain of dependent integer
// adds retires one per cycle on every x86-64 core, so adds per second is the clock the core ran at
// while busy (turbo included), which /proc/cpuinfo's "cpu MHz" is not; elsewhere, or with --ghz,
// it is read or given and the line says which. The FMA units are not measurable from here
// without assuming the clock: 2 by default, --fma-units to change (1 for 512-bit vectors where
// they run on two 256-bit units, as on Zen 4, and on single-FMA Xeons).
// One JSON line per microkernel built for this target (or the one named); those this CPU does not
// run get a line naming the features it lacks.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../cpu.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The clock in GHz from a dependent add chain (x86-64), best of five 20 ms runs; 0 elsewhere.
double measured_ghz() {
#if defined(__x86_64__)
  double best = 0;
  for (int r = 0; r < 5; r++) {
    uint64_t x = 0;
    long iters = 0;
    const auto t0 = Clock::now();
    do {
      for (int i = 0; i < 1000; i++) asm volatile(".rept 100\n\taddq $1, %0\n\t.endr" : "+r"(x));
      iters += 1000;
    } while (seconds_since(t0) < 0.02);
    const double ghz = double(iters) * 100 / seconds_since(t0) / 1e9;
    if (ghz > best) best = ghz;
  }
  return best;
#else
  return 0;
#endif
}

// The highest "cpu MHz" in /proc/cpuinfo, in GHz; 0 when there is none.
double cpuinfo_ghz() {
  FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return 0;
  char line[512];
  double best = 0;
  while (std::fgets(line, sizeof line, f)) {
    double mhz = 0;
    if (std::strncmp(line, "cpu MHz", 7) == 0 && std::sscanf(std::strchr(line, ':') ? std::strchr(line, ':') + 1 : line, "%lf", &mhz) == 1 && mhz > best) best = mhz;
  }
  std::fclose(f);
  return best / 1000;
}

float* aligned(long n) {
  float* p = static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64));
  if (!p) std::abort();
  return p;
}

// Seconds for `calls` full-tile calls at depth kc.
double time_calls(const mococxr::GemmUkernel& uk, long kc, long calls, const float* a, const float* b, float* c) {
  const auto t0 = Clock::now();
  for (long i = 0; i < calls; i++) uk.fn(kc, a, b, c, uk.nr, uk.mr, uk.nr, true);
  return seconds_since(t0);
}

double number(const char* flag, const char* v) {
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  if (!v[0] || *end || !(x > 0)) {
    std::fprintf(stderr, "%s needs a positive number, got '%s'\n", flag, v);
    std::exit(2);
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  const char* only = nullptr;
  long kc = 256;
  double seconds = 1, fma_units = 2, ghz_given = 0;
  for (int i = 1; i < argc; i++) {
    const bool has = i + 1 < argc;
    if (has && std::strcmp(argv[i], "--ukernel") == 0) only = argv[++i];
    else if (has && std::strcmp(argv[i], "--kc") == 0) kc = long(number("--kc", argv[++i]));
    else if (has && std::strcmp(argv[i], "--seconds") == 0) seconds = number("--seconds", argv[++i]);
    else if (has && std::strcmp(argv[i], "--fma-units") == 0) fma_units = number("--fma-units", argv[++i]);
    else if (has && std::strcmp(argv[i], "--ghz") == 0) ghz_given = number("--ghz", argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--ukernel NAME] [--kc 256] [--seconds 1] [--fma-units 2] [--ghz G]\n", argv[0]);
      return 2;
    }
  }
  const double cpuinfo = cpuinfo_ghz();
  double ghz = ghz_given;
  const char* source = "given (--ghz)";
  if (ghz == 0) {
    ghz = measured_ghz();
    source = "measured (dependent integer adds, 1 per cycle)";
  }
  if (ghz == 0) {
    ghz = cpuinfo;
    source = "/proc/cpuinfo cpu MHz";
  }
  size_t n = 0;
  const mococxr::Isa* const* all = mococxr::all_isas(&n);
  std::vector<const mococxr::Isa*> isas(all, all + n);
  if (mococxr::bf16_isa()) isas.push_back(mococxr::bf16_isa());  // precision 'bf16'
  bool found = false;
  for (size_t s = 0; s < isas.size(); s++) {
    const mococxr::Isa& isa = *isas[s];
    const mococxr::GemmUkernel& uk = *isa.gemm;
    if (only && std::strcmp(uk.name, only) != 0) continue;
    found = true;
    const char* lacks[16];
    const size_t nl = mococxr::cpu_lacks(isa, lacks, 16);
    if (nl > 0) {
      std::string missing;
      for (size_t j = 0; j < nl && j < 16; j++) missing += std::string(j ? " " : "") + lacks[j];
      std::printf("{\"ukernel\":\"%s\",\"isa\":\"%s\",\"notRun\":\"this CPU lacks %s\"}\n", uk.name, isa.name, missing.c_str());
      continue;
    }
    float* a = aligned(kc * uk.mr);
    float* b = aligned(kc * uk.nr);
    float* c = aligned(uk.mr * uk.nr);
    for (long i = 0; i < kc * uk.mr; i++) a[i] = 1.f / float(1 + i % 7);
    for (long i = 0; i < kc * uk.nr; i++) b[i] = 1.f / float(1 + i % 5);
    std::memset(c, 0, sizeof(float) * uk.mr * uk.nr);
    if (uk.pack) {  // panels in the microkernel's own layout (bf16 pairs), as the drivers leave them
      uk.pack(kc, uk.mr, a);
      uk.pack(kc, uk.nr, b);
    }
    // Calibrate on short runs, then time enough calls for a third of `seconds`; the best of three.
    long calls = 16;
    while (time_calls(uk, kc, calls, a, b, c) < seconds / 20 && calls < (1L << 40)) calls *= 2;
    const double t = time_calls(uk, kc, calls, a, b, c);
    calls = std::max(1L, long(double(calls) * seconds / 3 / std::max(t, 1e-9)));
    double best = 1e300;
    for (int r = 0; r < 3; r++) best = std::min(best, time_calls(uk, kc, calls, a, b, c));
    const double gflops = 2.0 * uk.mr * uk.nr * kc * double(calls) / best / 1e9;
    const int lanes = uk.nr / 2;
    // VDPBF16PS does two multiply-adds per fp32 lane, so a bf16 microkernel's peak is twice as high.
    const double peak = fma_units * lanes * 2 * (uk.pack ? 2 : 1) * ghz;
    // c is printed so the calls cannot be optimised away.
    std::printf(
        "{\"ukernel\":\"%s\",\"isa\":\"%s\",\"tile\":\"%dx%d\",\"kc\":%ld,\"calls\":%ld,\"gflops\":%.2f,\"peakGflops\":%.1f,"
        "\"fractionOfPeak\":%.3f,\"ghz\":%.2f,\"clock\":\"%s\",\"cpuinfoGhz\":%.2f,\"fmaUnits\":%g,\"lanes\":%d,\"fused\":%s,\"check\":%g}\n",
        uk.name, isa.name, uk.mr, uk.nr, kc, calls, gflops, peak, peak > 0 ? gflops / peak : 0, ghz, source, cpuinfo, fma_units, lanes,
        uk.fused ? "true" : "false", double(c[0]));
    std::fflush(stdout);
    std::free(a);
    std::free(b);
    std::free(c);
  }
  if (!found) {
    std::fprintf(stderr, "no microkernel named %s is built for this target\n", only);
    return 2;
  }
  return 0;
}
