// The target's baseline vector ISA (SSE2 on x86-64, NEON on arm64): runs on every CPU.
#include "kernels.h"
namespace mococxr {
namespace generic {
#define VBYTES 16
#define MR 6
#define ISA_LABEL "generic"
#include "kernels.inl"
}  // namespace generic
const KernelTable* kernels_generic() { return &generic::table; }
}  // namespace mococxr
