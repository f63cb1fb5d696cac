// SPDX-License-Identifier: MIT
// The value primitives of the cost models (../shared/specs/cost-models.md §2) against the spec's vectors
// and exhaustive properties over DNNsim's 15-bit table range.
#include "base/error.h"
#include "cost/value_bits.h"

#include <bit>
#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

namespace qs::core {
namespace {

using Codes = std::vector<std::int32_t>;

// Independent NAF weight: digit by digit with signed remainders.
int nafWeightReference(std::int64_t x) {
    int weight = 0;
    while (x != 0) {
        if (x % 2 != 0) {
            const std::int64_t digit = 2 - (x % 4); // +1 or -1 so that the next digit is 0
            x -= digit;
            ++weight;
        }
        x /= 2;
    }
    return weight;
}

TEST(CostValueBits, BitPositionsUseDnnsimZeroConvention) {
    EXPECT_EQ(msbPosition(0), 0);
    EXPECT_EQ(lsbPosition(0), 16);
    EXPECT_EQ(msbPosition(1), 0);
    EXPECT_EQ(lsbPosition(1), 0);
    EXPECT_EQ(msbPosition(0b1011000), 6);
    EXPECT_EQ(lsbPosition(0b1011000), 3);
    EXPECT_EQ(msbPosition(1u << 20), 20);
    EXPECT_EQ(lsbPosition(1u << 20), 20);
    EXPECT_EQ(msbPosition(0xFFFFFFFFu), 31);
}

TEST(CostValueBits, SignMagnitudeGroupPrecision) {
    // §4.5 vectors.
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{1, 2, 4, 8}, true), 4);
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{8, 16}, true), 2);
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{8, 16}, false), 5);
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{0, 0, 0}, true), 1);
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{0, 0, 0}, false), 1);
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{3, 255, 0}, false), 8);
    // The sign bit sits one above the magnitude's msb.
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{-1}, false), 2);
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{-1}, true), 2);
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{-4, 4}, true), 2); // hi 3 (sign), lo 2
    EXPECT_EQ(groupPrecisionSignMagnitude(Codes{-128}, false), 9);
}

TEST(CostValueBits, TwosComplementGroupPrecision) {
    // §2 examples, signed tensor.
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{0}, true, false), 2);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{-1}, true, false), 2);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{-2}, true, false), 2);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{-3}, true, false), 3);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{127}, true, false), 8);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{-128}, true, false), 8);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{-128, 127, 0}, true, false), 8);
    // Unsigned.
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{0}, false, false), 1);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{1}, false, false), 1);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{255}, false, false), 8);
    // Zero groups (§4.5): 1 unsigned, 2 signed, trimmed or not.
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{0, 0}, false, true), 1);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{0, 0}, true, true), 2);
    // minor_bit trimming on unsigned values equals the sign-magnitude rule.
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{8, 16}, false, true), 2);
    EXPECT_EQ(groupPrecisionTwosComplement(Codes{1, 2, 4, 8}, false, true), 4);
}

TEST(CostValueBits, GroupPrecisionNeverBelowOneAndMonotone) {
    // Adding a value to a group never lowers its leading-bit precision.
    for (std::int32_t a = -300; a <= 300; a += 7) {
        for (std::int32_t b = -300; b <= 300; b += 11) {
            const Codes one{a}, two{a, b};
            EXPECT_GE(groupPrecisionSignMagnitude(two, false), groupPrecisionSignMagnitude(one, false));
            EXPECT_GE(groupPrecisionTwosComplement(two, true, false), groupPrecisionTwosComplement(one, true, false));
            EXPECT_GE(groupPrecisionSignMagnitude(two, true), 1);
            EXPECT_GE(groupPrecisionTwosComplement(two, true, true), 1);
        }
    }
}

TEST(CostValueBits, TermVectorsOfTheSpec) {
    struct Vector {
        std::int32_t value;
        int popcount, booth, naf;
    };
    const Vector vectors[] = {{3, 2, 2, 2},  {5, 2, 2, 2},  {7, 3, 2, 2},   {11, 3, 3, 3},
                              {15, 4, 2, 2}, {59, 5, 3, 3}, {109, 5, 5, 4}, {255, 8, 2, 2}};
    for (const auto& v : vectors) {
        SCOPED_TRACE(v.value);
        EXPECT_EQ(effectualTerms(v.value, TermEncoding::Binary), v.popcount);
        EXPECT_EQ(effectualTerms(v.value, TermEncoding::DnnsimBooth), v.booth);
        EXPECT_EQ(effectualTerms(v.value, TermEncoding::Naf), v.naf);
        // Magnitudes: the sign is carried apart.
        EXPECT_EQ(effectualTerms(-v.value, TermEncoding::DnnsimBooth), v.booth);
    }
    for (const auto e : {TermEncoding::Binary, TermEncoding::DnnsimBooth, TermEncoding::Naf}) {
        EXPECT_EQ(effectualTerms(0, e), 0);
        for (int k = 0; k < 31; ++k)
            EXPECT_EQ(effectualTerms(1 << k, e), 1) << k;
    }
}

TEST(CostValueBits, DnnsimBoothExhaustiveOver15BitCodes) {
    int differFromNaf = 0;
    for (std::int32_t v = 0; v < 32768; ++v) {
        const int binary = effectualTerms(v, TermEncoding::Binary);
        const int booth = effectualTerms(v, TermEncoding::DnnsimBooth);
        const int naf = effectualTerms(v, TermEncoding::Naf);
        ASSERT_EQ(binary, std::popcount(static_cast<std::uint32_t>(v)));
        ASSERT_EQ(naf, nafWeightReference(v)) << v;
        ASSERT_LE(booth, binary) << v;
        ASSERT_GE(booth, naf) << v;
        ASSERT_EQ(std::popcount(termPositions(v, TermEncoding::DnnsimBooth)), booth) << v;
        differFromNaf += booth != naf;
    }
    EXPECT_EQ(differFromNaf, 6147); // §2: replicated from DNNsim's table
}

TEST(CostValueBits, WideCodesUseTheSameRules) {
    // Beyond the 16-bit tables the rule is computed directly.
    EXPECT_EQ(effectualTerms(0x7FFFFFFF, TermEncoding::Binary), 31);
    EXPECT_EQ(effectualTerms(0x7FFFFFFF, TermEncoding::DnnsimBooth), 2);
    EXPECT_EQ(effectualTerms(0x7FFFFFFF, TermEncoding::Naf), 2);
    EXPECT_EQ(effectualTerms(-2147483647 - 1, TermEncoding::Naf), 1);
    EXPECT_EQ(effectualTerms(109 << 16, TermEncoding::DnnsimBooth), 5);
    EXPECT_EQ(effectualTerms(109 << 16, TermEncoding::Naf), 4);
}

TEST(CostValueBits, TermEncodingNames) {
    for (const auto e : {TermEncoding::Binary, TermEncoding::DnnsimBooth, TermEncoding::Naf})
        EXPECT_EQ(termEncodingFromName(termEncodingName(e)), e);
    EXPECT_THROW(termEncodingFromName("booth"), Error);
}

TEST(CostValueBits, TwoStageShifterCasesOfTheSpec) {
    // §6.5.
    const Codes farApart{1, 256, 0, 0};
    EXPECT_EQ(twoStageCycles(farApart, 2), 2);
    EXPECT_EQ(twoStageCycles(farApart, 4), 1);
    Codes powers;
    for (int k = 0; k < 16; ++k)
        powers.push_back(1 << k);
    EXPECT_EQ(twoStageCycles(powers, 2), 4);
    EXPECT_EQ(twoStageCycles(powers, 4), 1);
    const Codes elevenSix{11, 6};
    EXPECT_EQ(twoStageCycles(elevenSix, 0), 4);
    EXPECT_EQ(twoStageCycles(elevenSix, 1), 3);
    // Minimum 1 for all-zero lanes; 255 in binary takes its 8 terms.
    EXPECT_EQ(twoStageCycles(Codes(16, 0), 4), 1);
    EXPECT_EQ(twoStageCycles(Codes(16, 255), 4), 8);
    // Booth-recoded 255 is {+2^8, -2^0}: two terms 8 apart.
    const std::uint64_t booth255 = termPositions(255, TermEncoding::DnnsimBooth);
    EXPECT_EQ(booth255, (1ull << 8) | 1ull);
    EXPECT_EQ(twoStageCyclesOfTerms(std::vector<std::uint64_t>(16, booth255), 4), 2);
}

TEST(CostValueBits, TwoStageWithWideFirstStageIsMaxTerms) {
    // §2: with F >= log2(B) the shifter costs the lane with most terms; narrower stages never cost less.
    std::uint32_t state = 12345;
    const auto next = [&state] { return state = state * 1664525u + 1013904223u; };
    for (int trial = 0; trial < 200; ++trial) {
        Codes lanes(16);
        int maxTerms = 1;
        for (auto& v : lanes) {
            v = static_cast<std::int32_t>(next() >> 16);
            maxTerms = std::max(maxTerms, effectualTerms(v, TermEncoding::Binary));
        }
        EXPECT_EQ(twoStageCycles(lanes, 4), maxTerms);
        for (int f = 0; f < 4; ++f)
            EXPECT_GE(twoStageCycles(lanes, f), twoStageCycles(lanes, f + 1));
    }
}

} // namespace
} // namespace qs::core
