// What the microkernel tests (gemm_*_test.cc) share: seeded values, aligned panels, float bits.
// Test-only: left out of the package with the tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace mococxr {
namespace test {

// splitmix64: the same values on every machine, so a failure reproduces.
struct Rng {
  uint64_t s;
  double decades = 6;  // value()'s magnitudes span this many decades around 1
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  // Normal values scaled over `decades`, so every rounding shows.
  float value() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2) * std::pow(10.0, decades * (uniform() - 0.5)));
  }
};

// 64-byte aligned, as the drivers' packed panels are.
struct Buf {
  float* p;
  explicit Buf(size_t n) : p(static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64))) {}
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
};

inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace test
}  // namespace mococxr
