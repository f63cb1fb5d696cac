// SPDX-License-Identifier: MIT
#pragma once
// Uniform doubles from a 64-bit engine, spelled once: the top 53 bits, so every platform draws the
// same numbers (std::uniform_real_distribution's algorithm is the library's choice).
#include <random>

namespace qs::core {

/// Uniform in [0, 1).
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

/// Uniform in (0, 1): never 0, for logarithms.
inline double uniformOpen01(std::mt19937_64& rng) { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; }

} // namespace qs::core
