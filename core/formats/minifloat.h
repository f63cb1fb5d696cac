// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <vector>

namespace qs::core {

/// A sign + ExMy floating-point element format with subnormals (OCP FP8/FP6/FP4, IEEE binary16).
struct MiniFloatSpec {
    int ebits;       ///< exponent field width
    int mbits;       ///< mantissa field width
    int bias;        ///< exponent bias
    float maxValue;  ///< largest finite magnitude (448 for E4M3, 57344 for E5M2, 6 for E2M1)
    bool ieeeSpecials; ///< top exponent reserved for inf/NaN (E5M2, fp16)
    bool nanAllOnes;   ///< only S.1111.111 is NaN, no infinities (OCP E4M3)

    /// Smallest normal exponent (1 - bias).
    int minNormalExp() const { return 1 - bias; }
    /// Smallest positive (subnormal) magnitude: 2^(1 - bias - mbits).
    float minSubnormal() const;
};

/// Reference definition: rounds x to the nearest value of `s`, ties to even, saturating at
/// ±maxValue (infinities too); NaN stays NaN. Slow and obvious: tests compare the fast path with it.
float roundMiniFloatRef(float x, const MiniFloatSpec& s);

/// Fast path (bit arithmetic, vectorisable): same result as roundMiniFloatRef for every input.
/// `scale` divides the input first and multiplies the result: out = round(in / scale) * scale
/// (pass 1 for a plain cast). Division, not a reciprocal multiply, so results are exact references.
void roundMiniFloat(const float* in, float* out, std::size_t n, const MiniFloatSpec& s, float scale);

/// Encodes a value that is exactly representable (or NaN) into its bit pattern (sign in the top bit).
std::uint32_t encodeMiniFloat(float value, const MiniFloatSpec& s);
/// Decodes a bit pattern of 1 + ebits + mbits bits.
float decodeMiniFloat(std::uint32_t bits, const MiniFloatSpec& s);
/// Every finite representable value, ascending, without duplicate zeros.
std::vector<float> miniFloatValues(const MiniFloatSpec& s);

/// The specs of the table's float formats.
namespace minifloat {
inline constexpr MiniFloatSpec kE4M3{4, 3, 7, 448.0f, false, true};
inline constexpr MiniFloatSpec kE5M2{5, 2, 15, 57344.0f, true, false};
inline constexpr MiniFloatSpec kE3M2{3, 2, 3, 28.0f, false, false};
inline constexpr MiniFloatSpec kE2M3{2, 3, 1, 7.5f, false, false};
inline constexpr MiniFloatSpec kE2M1{2, 1, 1, 6.0f, false, false};
inline constexpr MiniFloatSpec kFp16{5, 10, 15, 65504.0f, true, false};
} // namespace minifloat

} // namespace qs::core
