#include "cpu.h"

#include "isa.h"

namespace mococxr {
namespace {

#define MOCO_NAME(f) f,
#define MOCO_CHECK(f) &&__builtin_cpu_supports(f)

#if defined(__x86_64__)
const char* const avx512_features[] = {MOCO_AVX512_FEATURES(MOCO_NAME)};
const char* const avx2_features[] = {MOCO_AVX2_FEATURES(MOCO_NAME)};

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return true MOCO_AVX512_FEATURES(MOCO_CHECK);
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return true MOCO_AVX2_FEATURES(MOCO_CHECK);
}

const Isa avx512 = {"avx512", &gemm_f32_12x32__avx512, avx512_features, sizeof avx512_features / sizeof *avx512_features, cpu_has_avx512};
const Isa avx2 = {"avx2", &gemm_f32_6x16__avx2, avx2_features, sizeof avx2_features / sizeof *avx2_features, cpu_has_avx2};
#endif

const Isa generic = {"generic", &gemm_f32_6x8__generic, nullptr, 0, nullptr};

#if defined(__x86_64__)
const Isa* const isas[] = {&avx512, &avx2, &generic};
#else
const Isa* const isas[] = {&generic};
#endif

}  // namespace

const Isa* const* all_isas(size_t* n) {
  *n = sizeof isas / sizeof *isas;
  return isas;
}

bool cpu_runs(const Isa& isa) { return !isa.cpu_has || isa.cpu_has(); }

const Isa& best_isa() {
  for (const Isa* t : isas)
    if (cpu_runs(*t)) return *t;
  return generic;
}

}  // namespace mococxr
