// SPDX-License-Identifier: MIT
// Every bit pattern of FP8 E4M3/E5M2, FP6 E3M2/E2M3 and FP4 E2M1 against a decoder written here from
// the OCP spec, round trips, ties to even, saturation and NaN, and the fast path against the reference.
#include "formats/format_traits.h"
#include "formats/minifloat.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

using namespace qs::core;

namespace {

struct Case {
    const char* name;
    MiniFloatSpec spec;
    int e, m, bias;
    enum Specials { None, OcpE4M3, Ieee } specials;
    float max, minSub;
    std::size_t distinct; // finite values, one zero
};

// The spec's decoding rule, independent of the library.
float specDecode(const Case& c, unsigned bits) {
    const unsigned s = bits >> (c.e + c.m), e = (bits >> c.m) & ((1u << c.e) - 1), m = bits & ((1u << c.m) - 1);
    const unsigned emax = (1u << c.e) - 1;
    double v;
    if (c.specials == Case::Ieee && e == emax)
        v = m ? NAN : INFINITY;
    else if (c.specials == Case::OcpE4M3 && e == emax && m == (1u << c.m) - 1)
        v = NAN;
    else if (e == 0)
        v = std::ldexp(m / double(1u << c.m), 1 - c.bias);
    else
        v = std::ldexp(1.0 + m / double(1u << c.m), int(e) - c.bias);
    return float(s ? -v : v);
}

const Case kCases[] = {
    {"E4M3", minifloat::kE4M3, 4, 3, 7, Case::OcpE4M3, 448.0f, 0x1p-9f, 253},
    {"E5M2", minifloat::kE5M2, 5, 2, 15, Case::Ieee, 57344.0f, 0x1p-16f, 247},
    {"E3M2", minifloat::kE3M2, 3, 2, 3, Case::None, 28.0f, 0x1p-4f, 63},
    {"E2M3", minifloat::kE2M3, 2, 3, 1, Case::None, 7.5f, 0x1p-3f, 63},
    {"E2M1", minifloat::kE2M1, 2, 1, 1, Case::None, 6.0f, 0.5f, 15},
};

bool sameFloat(float a, float b) { return (std::isnan(a) && std::isnan(b)) || std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

float fast(float x, const MiniFloatSpec& s) {
    float y;
    roundMiniFloat(&x, &y, 1, s, 1.0f);
    return y;
}

} // namespace

TEST(MiniFloat, EveryBitPatternDecodesAsTheSpecSays) {
    for (const auto& c : kCases) {
        const unsigned n = 1u << (1 + c.e + c.m);
        for (unsigned b = 0; b < n; ++b)
            EXPECT_TRUE(sameFloat(decodeMiniFloat(b, c.spec), specDecode(c, b))) << c.name << " bits " << b;
        const auto values = miniFloatValues(c.spec);
        EXPECT_EQ(values.size(), c.distinct) << c.name;
        EXPECT_EQ(values.back(), c.max) << c.name;
        EXPECT_EQ(values.front(), -c.max) << c.name;
        EXPECT_EQ(c.spec.minSubnormal(), c.minSub) << c.name;
    }
}

TEST(MiniFloat, Fp4E2M1ValuesAreTheSpecTable) {
    const auto v = miniFloatValues(minifloat::kE2M1);
    const std::vector<float> expected{-6, -4, -3, -2, -1.5f, -1, -0.5f, 0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    EXPECT_EQ(v, expected);
}

TEST(MiniFloat, EveryBitPatternRoundTrips) {
    for (const auto& c : kCases) {
        const unsigned n = 1u << (1 + c.e + c.m);
        for (unsigned b = 0; b < n; ++b) {
            const float v = decodeMiniFloat(b, c.spec);
            if (std::isnan(v)) continue;
            if (std::isinf(v)) continue; // E5M2 inf saturates when rounded; encoding checked below
            EXPECT_EQ(encodeMiniFloat(v, c.spec), b) << c.name << " " << v;
            EXPECT_TRUE(sameFloat(roundMiniFloatRef(v, c.spec), v)) << c.name << " " << v;
            EXPECT_TRUE(sameFloat(fast(v, c.spec), v)) << c.name << " " << v;
        }
    }
    EXPECT_EQ(encodeMiniFloat(INFINITY, minifloat::kE5M2), 0x7Cu);
    EXPECT_EQ(encodeMiniFloat(NAN, minifloat::kE4M3), 0x7Fu);
}

TEST(MiniFloat, MidpointsRoundToTheEvenNeighbour) {
    for (const auto& c : kCases) {
        const auto v = miniFloatValues(c.spec);
        for (std::size_t i = 0; i + 1 < v.size(); ++i) {
            const float mid = 0.5f * (v[i] + v[i + 1]); // exact: neighbours differ by one float ulp step
            const float r = roundMiniFloatRef(mid, c.spec);
            ASSERT_TRUE(r == v[i] || r == v[i + 1]) << c.name << " " << mid;
            EXPECT_EQ(encodeMiniFloat(r, c.spec) & 1u, 0u) << c.name << " midpoint " << mid << " -> " << r;
            EXPECT_TRUE(sameFloat(fast(mid, c.spec), r)) << c.name << " " << mid;
            // Just off the midpoint goes to the nearer value.
            EXPECT_EQ(roundMiniFloatRef(std::nextafter(mid, v[i]), c.spec), v[i]) << c.name;
            EXPECT_EQ(roundMiniFloatRef(std::nextafter(mid, v[i + 1]), c.spec), v[i + 1]) << c.name;
        }
    }
}

TEST(MiniFloat, SaturatesAndKeepsNaN) {
    for (const auto& c : kCases) {
        for (float big : {c.max * 1.0001f, c.max * 2.0f, 1e30f, INFINITY}) {
            EXPECT_EQ(roundMiniFloatRef(big, c.spec), c.max) << c.name;
            EXPECT_EQ(roundMiniFloatRef(-big, c.spec), -c.max) << c.name;
            EXPECT_EQ(fast(big, c.spec), c.max) << c.name;
            EXPECT_EQ(fast(-big, c.spec), -c.max) << c.name;
        }
        EXPECT_TRUE(std::isnan(roundMiniFloatRef(NAN, c.spec)));
        EXPECT_TRUE(std::isnan(fast(NAN, c.spec)));
        // Below half the smallest subnormal: signed zero.
        EXPECT_EQ(fast(c.minSub * 0.49f, c.spec), 0.0f);
        EXPECT_TRUE(std::signbit(fast(-c.minSub * 0.49f, c.spec)));
    }
    // E4M3: 464 is the midpoint between 448 and the (NaN) code above it -> saturates to 448.
    EXPECT_EQ(roundMiniFloatRef(464.0f, minifloat::kE4M3), 448.0f);
}

TEST(MiniFloat, FastPathEqualsReferenceOnRandomFloats) {
    std::mt19937 rng(5);
    std::uniform_int_distribution<uint32_t> bitsDist;
    for (const auto& c : kCases) {
        for (int i = 0; i < 200000; ++i) {
            // Random bit patterns cover every binade, subnormals, inf and NaN of float32.
            const float x = std::bit_cast<float>(bitsDist(rng));
            ASSERT_TRUE(sameFloat(fast(x, c.spec), roundMiniFloatRef(x, c.spec))) << c.name << " x=" << x;
            // And values in the format's own range.
            const float y = std::ldexp(std::uniform_real_distribution<float>(-2, 2)(rng),
                                       std::uniform_int_distribution<int>(-c.bias - c.m - 2, c.bias + 2)(rng));
            ASSERT_TRUE(sameFloat(fast(y, c.spec), roundMiniFloatRef(y, c.spec))) << c.name << " y=" << y;
        }
    }
}

TEST(MiniFloat, VectorPathEqualsReferenceOnRandomFloats) {
    // Whole arrays run the vector lanes (fast() above runs the scalar twin); the casts too.
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> bitsDist;
    std::vector<const MiniFloatSpec*> specs{&minifloat::kFp16, formatTraits(FormatId::Bf16).element};
    for (const auto& c : kCases) specs.push_back(&c.spec);
    std::vector<float> x(4096), y(x.size());
    for (const MiniFloatSpec* s : specs)
        for (int rep = 0; rep < 50; ++rep) {
            for (auto& v : x) v = std::bit_cast<float>(bitsDist(rng));
            for (std::size_t i = 0; i < x.size(); i += 2) // every other value within the format's range
                x[i] = std::ldexp(std::uniform_real_distribution<float>(-2, 2)(rng),
                                  std::uniform_int_distribution<int>(-s->bias - s->mbits - 2, s->bias + 2)(rng));
            roundMiniFloat(x.data(), y.data(), x.size(), *s, 1.0f);
            for (std::size_t i = 0; i < x.size(); ++i)
                ASSERT_TRUE(sameFloat(y[i], roundMiniFloatRef(x[i], *s))) << "ebits " << s->ebits << " x=" << x[i];
        }
}
