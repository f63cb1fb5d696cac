// SPDX-License-Identifier: MIT
// f16/bf16 conversions against independent references written here with ldexp/nearbyint in double.
#include "tensor/half.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>

using namespace qs::core;

namespace {

std::uint32_t bitsOf(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
float floatOf(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// IEEE binary16 value straight from the definition.
double refF16(std::uint16_t h) {
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = std::ldexp(m, -24);
    else if (e == 31)
        v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    else
        v = std::ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

// Round x (finite float) to `mantBits` fraction bits with minimum exponent `minExp`, ties to even, in
// double (exact: x has 24 significant bits). Returns +-inf when the result reaches 2^(maxExp+1).
double refRound(float x, int mantBits, int minExp, int maxExp) {
    const double a = std::fabs(static_cast<double>(x));
    if (a == 0) return x;
    int e = std::ilogb(a);
    if (e < minExp) e = minExp;
    const double q = std::ldexp(1.0, e - mantBits); // one unit in the last place at this exponent
    const double r = std::nearbyint(a / q) * q;     // default rounding mode: ties to even
    const double v = r >= std::ldexp(1.0, maxExp + 1) ? std::numeric_limits<double>::infinity() : r;
    return std::signbit(x) ? -v : v;
}
double refF16Round(float x) {
    return refRound(x, 10, -14, 15);
}
double refBf16Round(float x) {
    return refRound(x, 7, -126, 127);
}

void checkF16(float x) {
    const std::uint16_t h = f32ToF16(x);
    if (std::isnan(x)) {
        EXPECT_TRUE((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) << std::hex << bitsOf(x);
        return;
    }
    const double want = refF16Round(x);
    const double got = refF16(h);
    ASSERT_EQ(got, want) << "x=" << x << " bits=0x" << std::hex << bitsOf(x) << " h=0x" << h;
    ASSERT_EQ(std::signbit(got), std::signbit(x)) << std::hex << bitsOf(x);
}

void checkBf16(float x) {
    const std::uint16_t b = f32ToBf16(x);
    if (std::isnan(x)) {
        EXPECT_TRUE(std::isnan(bf16ToF32(b))) << std::hex << bitsOf(x);
        return;
    }
    const double want = refBf16Round(x);
    const float got = bf16ToF32(b);
    ASSERT_EQ(static_cast<double>(got), want) << "x=" << x << " bits=0x" << std::hex << bitsOf(x);
    ASSERT_EQ(std::signbit(got), std::signbit(x)) << std::hex << bitsOf(x);
}

} // namespace

TEST(HalfTest, EveryF16PatternDecodesExactly) {
    for (std::uint32_t i = 0; i < 65536; ++i) {
        const auto h = static_cast<std::uint16_t>(i);
        const float f = f16ToF32(h);
        const double want = refF16(h);
        if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(f)) << std::hex << i;
            // Sign and payload survive: the f16 mantissa is the top of the f32 mantissa.
            EXPECT_EQ(bitsOf(f) >> 31, i >> 15) << std::hex << i;
            EXPECT_EQ((bitsOf(f) >> 13) & 0x3ff, i & 0x3ff) << std::hex << i;
        } else {
            ASSERT_EQ(static_cast<double>(f), want) << std::hex << i;
            ASSERT_EQ(std::signbit(f), (i >> 15) != 0) << std::hex << i;
        }
    }
}

TEST(HalfTest, EveryBf16PatternDecodesAsTopHalfOfF32) {
    for (std::uint32_t i = 0; i < 65536; ++i) {
        const float f = bf16ToF32(static_cast<std::uint16_t>(i));
        ASSERT_EQ(bitsOf(f), i << 16);
    }
}

TEST(HalfTest, F16RoundTripOfEveryPattern) {
    for (std::uint32_t i = 0; i < 65536; ++i) {
        const auto h = static_cast<std::uint16_t>(i);
        const std::uint16_t back = f32ToF16(f16ToF32(h));
        if (std::isnan(refF16(h)))
            ASSERT_TRUE((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0) << std::hex << i;
        else
            ASSERT_EQ(back, h) << std::hex << i;
    }
}

TEST(HalfTest, Bf16RoundTripOfEveryPattern) {
    for (std::uint32_t i = 0; i < 65536; ++i) {
        const auto b = static_cast<std::uint16_t>(i);
        const std::uint16_t back = f32ToBf16(bf16ToF32(b));
        const bool nan = (i & 0x7f80) == 0x7f80 && (i & 0x7f) != 0;
        if (nan)
            ASSERT_EQ(back, b | 0x40) << std::hex << i; // quieted, sign and payload kept
        else
            ASSERT_EQ(back, b) << std::hex << i;
    }
}

TEST(HalfTest, F16RoundingAtEveryTieAndItsNeighbours) {
    // For each pair of adjacent finite f16 values: the exact midpoint (a tie) and the floats beside it.
    for (std::uint32_t i = 0; i < 0x7c00; ++i) {
        const double lo = refF16(static_cast<std::uint16_t>(i));
        const double hi = i == 0x7bff ? 65536.0 : refF16(static_cast<std::uint16_t>(i + 1));
        const float mid = static_cast<float>((lo + hi) / 2); // 12 significant bits: exact in float
        ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
        const std::uint16_t even =
            (i & 1) ? static_cast<std::uint16_t>(i + 1) : static_cast<std::uint16_t>(i);
        ASSERT_EQ(f32ToF16(mid), even) << std::hex << i;
        ASSERT_EQ(f32ToF16(-mid), even | 0x8000) << std::hex << i;
        checkF16(mid);
        checkF16(std::nextafter(mid, 0.0f));
        checkF16(std::nextafter(mid, std::numeric_limits<float>::infinity()));
        checkF16(static_cast<float>(lo));
    }
}

TEST(HalfTest, F16SpecialCases) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(f32ToF16(0.0f), 0x0000);
    EXPECT_EQ(f32ToF16(-0.0f), 0x8000);
    EXPECT_EQ(f32ToF16(1.0f), 0x3c00);
    EXPECT_EQ(f32ToF16(65504.0f), 0x7bff);                       // largest finite
    EXPECT_EQ(f32ToF16(std::nextafter(65520.0f, 0.0f)), 0x7bff); // just below the overflow tie
    EXPECT_EQ(f32ToF16(65520.0f), 0x7c00);                       // tie with 65536 rounds to even = inf
    EXPECT_EQ(f32ToF16(1e10f), 0x7c00);
    EXPECT_EQ(f32ToF16(-1e10f), 0xfc00);
    EXPECT_EQ(f32ToF16(inf), 0x7c00);
    EXPECT_EQ(f32ToF16(-inf), 0xfc00);
    EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -14)), 0x0400); // smallest normal
    EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -24)), 0x0001); // smallest subnormal
    EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -25)), 0x0000); // tie between 0 and 2^-24: even is 0
    EXPECT_EQ(f32ToF16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
    EXPECT_EQ(f32ToF16(std::ldexp(3.0f, -25)), 0x0002); // tie between 1 and 2 units: even is 2
    EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -26)), 0x0000);
    EXPECT_EQ(f32ToF16(std::ldexp(1023.5f, -24)), 0x0400); // tie below the smallest normal rounds up into it
    EXPECT_EQ(f32ToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_EQ(f32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);     // tie -> even
    EXPECT_EQ(f32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02); // tie -> even (up)
    const std::uint16_t nan = f32ToF16(std::numeric_limits<float>::quiet_NaN());
    EXPECT_EQ(nan & 0x7c00, 0x7c00);
    EXPECT_NE(nan & 0x3ff, 0);
    const std::uint16_t snan = f32ToF16(floatOf(0x7f800001u)); // payload only in low bits: must stay NaN
    EXPECT_EQ(snan & 0x7c00, 0x7c00);
    EXPECT_NE(snan & 0x3ff, 0);
    EXPECT_EQ(f32ToF16(floatOf(0xff800001u)) & 0x8000, 0x8000);
}

TEST(HalfTest, Bf16SpecialCases) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(f32ToBf16(1.0f), 0x3f80);
    EXPECT_EQ(f32ToBf16(-0.0f), 0x8000);
    EXPECT_EQ(f32ToBf16(floatOf(0x3f808000u)), 0x3f80);              // tie, even below
    EXPECT_EQ(f32ToBf16(floatOf(0x3f818000u)), 0x3f82);              // tie, even above
    EXPECT_EQ(f32ToBf16(floatOf(0x3f808001u)), 0x3f81);              // above the tie
    EXPECT_EQ(f32ToBf16(floatOf(0x3f807fffu)), 0x3f80);              // below the tie
    EXPECT_EQ(f32ToBf16(std::numeric_limits<float>::max()), 0x7f80); // rounds past the largest bf16: inf
    EXPECT_EQ(f32ToBf16(floatOf(0x7f7f7fffu)), 0x7f7f);              // stays finite
    EXPECT_EQ(f32ToBf16(inf), 0x7f80);
    EXPECT_EQ(f32ToBf16(-inf), 0xff80);
    EXPECT_EQ(f32ToBf16(floatOf(0x00008000u)), 0x0000); // subnormal tie -> even 0
    EXPECT_EQ(f32ToBf16(floatOf(0x00018000u)), 0x0002); // subnormal tie -> even 2
    EXPECT_EQ(f32ToBf16(floatOf(0x007fffffu)), 0x0080); // largest subnormal rounds to the smallest normal
    const std::uint16_t snan = f32ToBf16(floatOf(0x7f800001u)); // truncation alone would give inf
    EXPECT_TRUE(std::isnan(bf16ToF32(snan)));
    EXPECT_TRUE(std::isnan(bf16ToF32(f32ToBf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(HalfTest, SweepOfF32PatternsAgainstReference) {
    // A stride through all 2^32 float patterns (every sign, exponent and many mantissas).
    for (std::uint64_t u = 0; u < (1ull << 32); u += 997) {
        const float x = floatOf(static_cast<std::uint32_t>(u));
        checkF16(x);
        checkBf16(x);
    }
}

TEST(HalfTest, Bf16RoundingAtTiesAcrossExponents) {
    for (std::uint32_t top = 0; top < 0x7f80; top += 3) { // every third finite positive bf16
        const std::uint32_t base = top << 16;
        for (std::uint32_t low : {0x7fffu, 0x8000u, 0x8001u, 0xffffu, 0x0001u}) {
            checkBf16(floatOf(base | low));
            checkBf16(floatOf(0x80000000u | base | low));
        }
    }
}
