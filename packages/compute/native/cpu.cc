#include "cpu.h"

#include "isa.h"

namespace mococxr {
namespace {

#if defined(__x86_64__)
// __builtin_cpu_supports takes only a literal, so each feature gets its own test function.
#define MOCO_FEATURE(f) {f, [] { __builtin_cpu_init(); return __builtin_cpu_supports(f) != 0; }},
const CpuFeature avx512_features[] = {MOCO_AVX512_FEATURES(MOCO_FEATURE)};
const CpuFeature avx2_features[] = {MOCO_AVX2_FEATURES(MOCO_FEATURE)};
#if defined(MOCO_HAVE_BF16)
const CpuFeature avx512bf16_features[] = {MOCO_AVX512BF16_FEATURES(MOCO_FEATURE)};
#endif
#undef MOCO_FEATURE

const Isa avx512 = {"avx512", &gemm_f32_12x32__avx512, avx512_features, sizeof avx512_features / sizeof *avx512_features};
const Isa avx2 = {"avx2", &gemm_f32_6x16__avx2, avx2_features, sizeof avx2_features / sizeof *avx2_features};
#endif
#if defined(MOCO_HAVE_BF16)
// Not in `isas`: dispatch never picks it by itself, only precision 'bf16' does (bf16_isa()).
const Isa avx512bf16 = {"avx512bf16", &gemm_bf16_12x32__avx512bf16, avx512bf16_features,
                        sizeof avx512bf16_features / sizeof *avx512bf16_features};
#endif

const Isa generic = {"generic", &gemm_f32_6x8__generic, nullptr, 0};

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

size_t cpu_lacks(const Isa& isa, const char** out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < isa.nfeatures; i++)
    if (!isa.features[i].has()) {
      if (n < cap) out[n] = isa.features[i].name;
      n++;
    }
  return n;
}

bool cpu_runs(const Isa& isa) { return cpu_lacks(isa, nullptr, 0) == 0; }

const Isa* bf16_isa() {
#if defined(MOCO_HAVE_BF16)
  return &avx512bf16;
#else
  return nullptr;
#endif
}

const Isa& best_isa() {
  for (const Isa* t : isas)
    if (cpu_runs(*t)) return *t;
  return generic;
}

}  // namespace mococxr
