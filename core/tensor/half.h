// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <cstring>

namespace qs::core {

/// bfloat16 -> float32: exact (the bf16 bits are the top half of the f32 bits).
inline float bf16ToF32(std::uint16_t h) {
    std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

/// float32 -> bfloat16, round-to-nearest-even; NaN stays a (quiet) NaN.
std::uint16_t f32ToBf16(float f);

/// IEEE binary16 -> float32: exact, subnormals, inf and NaN included.
float f16ToF32(std::uint16_t h);

/// float32 -> IEEE binary16, round-to-nearest-even, overflow to inf, NaN kept.
std::uint16_t f32ToF16(float f);

} // namespace qs::core
