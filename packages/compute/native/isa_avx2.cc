#include "kernels.h"
#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi2")
namespace mococxr {
namespace avx2 {
#define VBYTES 32
#define MR 6
#define ISA_LABEL "avx2"
#include "kernels.inl"
}  // namespace avx2
const KernelTable* kernels_avx2() { return &avx2::table; }
}  // namespace mococxr
#pragma GCC pop_options
#else
namespace mococxr {
const KernelTable* kernels_avx2() { return nullptr; }
}
#endif
