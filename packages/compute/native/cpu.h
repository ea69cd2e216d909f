// The instruction sets the kernels come in and whether this CPU runs each: the one place that
// tests CPU features (isa.h lists them). Dispatch is at run time only, never -march=native, so a
// binary built on one CPU runs on another.
#pragma once
#include <cstddef>

#include "ukernels/gemm.h"

namespace mococxr {

struct Isa {
  const char* name;             // "avx512", "avx2", "generic"
  const GemmUkernel* gemm;      // its GEMM microkernel; everything else is shared by every set
  const char* const* features;  // the CPU features its code is compiled for (isa.h)
  size_t nfeatures;
  bool (*cpu_has)();            // whether this CPU has every one of them; null: the baseline
};

// Every set built for this target, best first; the baseline ("generic") is last and always there.
const Isa* const* all_isas(size_t* n);

// Whether this CPU runs `isa`'s code.
bool cpu_runs(const Isa& isa);

// The best set this CPU runs.
const Isa& best_isa();

}  // namespace mococxr
