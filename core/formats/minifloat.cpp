// SPDX-License-Identifier: MIT
#include "formats/minifloat.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace qs::core {

float MiniFloatSpec::minSubnormal() const { return std::ldexp(1.0f, 1 - bias - mbits); }

float roundMiniFloatRef(float x, const MiniFloatSpec& s) {
    if (std::isnan(x)) return x;
    const float a = std::fabs(x);
    if (std::isinf(a)) return std::copysign(s.maxValue, x);
    if (a == 0.0f) return x;
    int e;
    std::frexp(a, &e);                                  // a = m * 2^e, 0.5 <= m < 1
    const int exponent = std::max(e - 1, s.minNormalExp()); // subnormals share the smallest exponent
    const float step = std::ldexp(1.0f, exponent - s.mbits);
    float q = std::nearbyint(a / step) * step;
    q = std::min(q, s.maxValue);
    return std::copysign(q, x);
}

void roundMiniFloat(const float* in, float* out, std::size_t n, const MiniFloatSpec& s, float scale) {
    // Normal range: round the float32 mantissa to mbits by integer addition (ties to even).
    // Subnormal range (|x| < 2^minNormalExp): round |x| / step_min to an integer.
    const int drop = 23 - s.mbits;
    const std::uint32_t half = (1u << (drop - 1)) - 1u;
    const std::uint32_t mask = ~((1u << drop) - 1u);
    const float minNormal = std::ldexp(1.0f, s.minNormalExp());
    const float subStep = s.minSubnormal();
    const float maxValue = s.maxValue;
    for (std::size_t i = 0; i < n; ++i) {
        const float x = in[i] / scale;
        const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
        const std::uint32_t sign = bits & 0x80000000u;
        const std::uint32_t absBits = bits & 0x7fffffffu;
        const float a = std::bit_cast<float>(absBits);
        const std::uint32_t lsb = (absBits >> drop) & 1u;
        const float normal = std::bit_cast<float>((absBits + half + lsb) & mask);
        const float sub = std::nearbyint(a / subStep) * subStep;
        float q = a < minNormal ? sub : normal;
        q = q > maxValue ? maxValue : q;           // saturate (inf too); NaN compares false and stays
        q = absBits > 0x7f800000u ? a : q;          // NaN in, NaN out
        out[i] = std::bit_cast<float>(std::bit_cast<std::uint32_t>(q) | sign) * scale;
    }
}

std::uint32_t encodeMiniFloat(float value, const MiniFloatSpec& s) {
    const std::uint32_t signBit = 1u << (s.ebits + s.mbits);
    const std::uint32_t expMax = (1u << s.ebits) - 1u;
    if (std::isnan(value)) {
        if (s.nanAllOnes) return (expMax << s.mbits) | ((1u << s.mbits) - 1u);
        return (expMax << s.mbits) | (1u << (s.mbits - 1));
    }
    const std::uint32_t sign = std::signbit(value) ? signBit : 0u;
    const float a = std::fabs(value);
    if (std::isinf(a)) return sign | (expMax << s.mbits);
    if (a == 0.0f) return sign;
    int e;
    std::frexp(a, &e);
    const int exponent = e - 1;
    if (exponent < s.minNormalExp()) { // subnormal: field 0, mantissa = a / 2^(emin - mbits)
        const auto m = static_cast<std::uint32_t>(a / s.minSubnormal());
        return sign | m;
    }
    const auto field = static_cast<std::uint32_t>(exponent + s.bias);
    const auto m = static_cast<std::uint32_t>((a / std::ldexp(1.0f, exponent) - 1.0f) * static_cast<float>(1u << s.mbits));
    return sign | (field << s.mbits) | m;
}

float decodeMiniFloat(std::uint32_t bits, const MiniFloatSpec& s) {
    const std::uint32_t expMax = (1u << s.ebits) - 1u;
    const bool negative = (bits >> (s.ebits + s.mbits)) & 1u;
    const std::uint32_t field = (bits >> s.mbits) & expMax;
    const std::uint32_t man = bits & ((1u << s.mbits) - 1u);
    float v;
    if (s.ieeeSpecials && field == expMax) {
        v = man ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    } else if (s.nanAllOnes && field == expMax && man == (1u << s.mbits) - 1u) {
        v = std::numeric_limits<float>::quiet_NaN();
    } else if (field == 0) {
        v = static_cast<float>(man) * s.minSubnormal();
    } else {
        v = std::ldexp(1.0f + static_cast<float>(man) / static_cast<float>(1u << s.mbits),
                       static_cast<int>(field) - s.bias);
    }
    return negative ? -v : v;
}

std::vector<float> miniFloatValues(const MiniFloatSpec& s) {
    std::vector<float> v;
    const std::uint32_t count = 1u << (1 + s.ebits + s.mbits);
    for (std::uint32_t b = 0; b < count; ++b) {
        const float x = decodeMiniFloat(b, s);
        if (std::isfinite(x) && !(x == 0.0f && std::signbit(x))) v.push_back(x);
    }
    std::sort(v.begin(), v.end());
    return v;
}

} // namespace qs::core
