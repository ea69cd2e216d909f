// The instruction sets the kernels come in and whether this CPU runs each: the one place that
// tests CPU features (isa.h lists them). Dispatch is at run time only, never -march=native, so a
// binary built on one CPU runs on another. The addon and the microkernel test and benchmark
// (ukernels/gemm_f32_test.cc, gemm_f32_bench.cc) all ask here.
#pragma once
#include <cstddef>

#include "ukernels/gemm.h"

namespace mococxr {

// One CPU feature a set's code is compiled for, and its run-time test.
struct CpuFeature {
  const char* name;  // as GCC's target list (isa.h) and /proc/cpuinfo's flags name it
  bool (*has)();
};

struct Isa {
  const char* name;              // "avx512", "avx2", "generic"
  const GemmUkernel* gemm;       // its GEMM microkernel; everything else is shared by every set
  const CpuFeature* features;    // the CPU features its code is compiled for (isa.h); none: the baseline
  size_t nfeatures;
};

// Every set built for this target, best first; the baseline ("generic") is last and always there.
const Isa* const* all_isas(size_t* n);

// Whether this CPU runs `isa`'s code: it has every one of its features.
bool cpu_runs(const Isa& isa);

// The features of `isa` this CPU lacks, written to out[0 .. returned count).
size_t cpu_lacks(const Isa& isa, const char** out, size_t cap);

// The best set this CPU runs.
const Isa& best_isa();

// The bf16 GEMM of precision 'bf16' (fp32 sums of bf16-rounded products) as a set of its own, with
// the features it needs; null where none is built (MOCO_HAVE_BF16, gemm.h). Not among all_isas().
const Isa* bf16_isa();

}  // namespace mococxr
