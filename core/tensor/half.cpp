// SPDX-License-Identifier: MIT
#include "tensor/half.h"

namespace qs::core {

std::uint16_t f32ToBf16(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u); // quiet NaN
    const std::uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb; // ties go to the even upper half
    return static_cast<std::uint16_t>(u >> 16);
}

float f16ToF32(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t man = h & 0x3ffu;
    std::uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { // subnormal: normalise into an f32 normal
            int e = -1;
            do {
                ++e;
                man <<= 1;
            } while ((man & 0x400u) == 0);
            u = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
        }
    } else if (exp == 0x1f) {
        u = sign | 0x7f800000u | man << 13; // inf / NaN
    } else {
        u = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

std::uint16_t f32ToF16(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return sign | 0x7e00u; // NaN
    if (absu >= 0x47800000u) {                      // >= 65536: overflow (65520 and up round to inf too)
        return sign | 0x7c00u;
    }
    const int exp = static_cast<int>(absu >> 23) - 127;
    if (exp >= -14) { // normal half
        std::uint32_t man = absu & 0x7fffffu;
        std::uint32_t h = static_cast<std::uint32_t>(exp + 15) << 10 | man >> 13;
        const std::uint32_t rest = man & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h; // may carry into exponent / inf: correct
        return sign | static_cast<std::uint16_t>(h);
    }
    if (exp < -25) return sign; // below half the smallest subnormal: rounds to zero
    // subnormal half: value = man24 * 2^(exp-23); half step is 2^-24
    const std::uint32_t man24 = (absu & 0x7fffffu) | 0x800000u;
    const int shift = -exp - 1; // 2^-24 units: man24 * 2^(exp+1) -> shift right by (-exp-1)
    std::uint32_t h = man24 >> shift;
    const std::uint32_t rest = man24 & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1u))) ++h;
    return sign | static_cast<std::uint16_t>(h);
}

} // namespace qs::core
