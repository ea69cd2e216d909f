#include "kernels.h"
#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2")
namespace mococxr {
namespace avx512 {
#define VBYTES 64
#define MR 12
#define ISA_LABEL "avx512"
#include "kernels.inl"
}  // namespace avx512
const KernelTable* kernels_avx512() { return &avx512::table; }
}  // namespace mococxr
#pragma GCC pop_options
#else
namespace mococxr {
const KernelTable* kernels_avx512() { return nullptr; }
}
#endif
