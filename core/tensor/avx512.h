// SPDX-License-Identifier: MIT
#pragma once
// The one switch for the AVX-512 kernels (the products' wide tiles, the mini-float rounding of MX and
// NV blocks). They run where the processor has AVX-512F and no one has held them back: tests and
// benches hold them back to compare them with the AVX2 kernels on one machine. Every kernel gives
// the same bits either way.

// Whether this compiler builds AVX-512 kernels (with a target attribute; the build stays x86-64-v3).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QS_AVX512_KERNELS 1
#else
#define QS_AVX512_KERNELS 0
#endif

namespace qs::core {

/// Whether the AVX-512 kernels run now.
bool useAvx512();

/// Allows or holds back the AVX-512 kernels; returns the previous setting.
bool allowAvx512(bool allowed);

} // namespace qs::core
