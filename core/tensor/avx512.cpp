// SPDX-License-Identifier: MIT
#include "tensor/avx512.h"

#include <atomic>

namespace qs::core {
namespace {
std::atomic<bool> g_allowed{true};
}

bool useAvx512() {
#if QS_AVX512_KERNELS
    static const bool present = __builtin_cpu_supports("avx512f");
    return present && g_allowed.load(std::memory_order_relaxed);
#else
    return false;
#endif
}

bool allowAvx512(bool allowed) { return g_allowed.exchange(allowed); }

} // namespace qs::core
