// SPDX-License-Identifier: MIT
#pragma once
#include "formats/format_traits.h"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qs::core {

/// A sign + ExMy floating-point element format with subnormals (OCP FP8/FP6/FP4, IEEE binary16).
/// Build one with makeMiniFloat(): it also fills the rounding constants the fast path needs, so a
/// block of 16 elements does not pay for deriving them again.
struct MiniFloatSpec {
    int ebits;       ///< exponent field width
    int mbits;       ///< mantissa field width
    int bias;        ///< exponent bias
    float maxValue;  ///< largest finite magnitude (448 for E4M3, 57344 for E5M2, 6 for E2M1)
    bool ieeeSpecials; ///< top exponent reserved for inf/NaN (E5M2, fp16)
    bool nanAllOnes;   ///< only S.1111.111 is NaN, no infinities (OCP E4M3)

    // Derived by makeMiniFloat() for the fast rounding (normal range: integer add on the float32 bits).
    int drop = 0;            ///< float32 mantissa bits removed (23 - mbits)
    std::uint32_t half = 0;  ///< rounding increment below the kept lsb
    std::uint32_t mask = 0;  ///< keeps sign, exponent and the kept mantissa bits
    float minNormal = 0;     ///< 2^(1 - bias)
    float subStep = 0;       ///< spacing of the subnormals, 2^(1 - bias - mbits)
    /// 1.5 * 2^23 * subStep: its float32 ulp is subStep, so (|x| + subMagic) - subMagic rounds |x| to a
    /// multiple of subStep, ties to even (the index of subMagic is even), both steps exact otherwise.
    float subMagic = 0;

    /// Smallest normal exponent (1 - bias).
    constexpr int minNormalExp() const { return 1 - bias; }
    /// Smallest positive (subnormal) magnitude: 2^(1 - bias - mbits).
    float minSubnormal() const;
};

/// 2^e for -149 <= e <= 127 (float32 subnormals included), usable in constant expressions.
constexpr float powerOfTwoF32(int e) {
    if (e >= -126) return std::bit_cast<float>(static_cast<std::uint32_t>(e + 127) << 23);
    return std::bit_cast<float>(1u << (e + 149)); // subnormal: a single mantissa bit
}

/// A spec with its rounding constants.
constexpr MiniFloatSpec makeMiniFloat(int ebits, int mbits, int bias, float maxValue, bool ieeeSpecials,
                                      bool nanAllOnes) {
    MiniFloatSpec s{ebits, mbits, bias, maxValue, ieeeSpecials, nanAllOnes};
    s.drop = 23 - mbits;
    s.half = (1u << (s.drop - 1)) - 1u;
    s.mask = ~((1u << s.drop) - 1u);
    s.minNormal = powerOfTwoF32(1 - bias);
    s.subStep = powerOfTwoF32(1 - bias - mbits);
    s.subMagic = 1.5f * powerOfTwoF32(1 - bias - mbits + 23);
    return s;
}

/// Reference definition: rounds x to the nearest value of `s`, ties to even, saturating at
/// ±maxValue (infinities too); NaN stays NaN. Slow and obvious: tests compare the fast path with it.
float roundMiniFloatRef(float x, const MiniFloatSpec& s);

/// Fast path (bit arithmetic, vectorisable): same result as roundMiniFloatRef for every input.
/// `scale` divides the input first and multiplies the result: out = round(in / scale) * scale
/// (pass 1 for a plain cast). Always the correctly rounded quotient: a reciprocal multiply is used only
/// where it is exact (power-of-two scales).
/// A zero scale gives zeros (a run that was all zeros).
void roundMiniFloat(const float* in, float* out, std::size_t n, const MiniFloatSpec& s, float scale);
/// roundMiniFloat over runs of `run` values (the last may be shorter), run k with params[k].scale.
void roundMiniFloatRuns(const float* in, float* out, std::size_t n, std::size_t run, const MiniFloatSpec& s,
                        const ScaleParams* params);

/// One value already divided by its scale, rounded like roundMiniFloat (for per-block scales).
float roundMiniFloatOne(float x, const MiniFloatSpec& s);

/// Encodes a value that is exactly representable (or NaN) into its bit pattern (sign in the top bit).
std::uint32_t encodeMiniFloat(float value, const MiniFloatSpec& s);
/// Decodes a bit pattern of 1 + ebits + mbits bits.
float decodeMiniFloat(std::uint32_t bits, const MiniFloatSpec& s);
/// Every finite representable value, ascending, without duplicate zeros.
std::vector<float> miniFloatValues(const MiniFloatSpec& s);

/// The specs of the table's float formats.
namespace minifloat {
inline constexpr MiniFloatSpec kE4M3 = makeMiniFloat(4, 3, 7, 448.0f, false, true);
inline constexpr MiniFloatSpec kE5M2 = makeMiniFloat(5, 2, 15, 57344.0f, true, false);
inline constexpr MiniFloatSpec kE3M2 = makeMiniFloat(3, 2, 3, 28.0f, false, false);
inline constexpr MiniFloatSpec kE2M3 = makeMiniFloat(2, 3, 1, 7.5f, false, false);
inline constexpr MiniFloatSpec kE2M1 = makeMiniFloat(2, 1, 1, 6.0f, false, false);
inline constexpr MiniFloatSpec kFp16 = makeMiniFloat(5, 10, 15, 65504.0f, true, false);
} // namespace minifloat

} // namespace qs::core
