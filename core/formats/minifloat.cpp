// SPDX-License-Identifier: MIT
#include "formats/minifloat.h"

#include "formats/format_simd.h"
#include "tensor/avx512.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#if QS_AVX512_KERNELS
#include <immintrin.h>
#endif

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

namespace {

// Normal range: round the float32 mantissa to mbits by integer addition (ties to even: the kept
// lsb is added too). Subnormal range (|x| < min normal): round |x| to a multiple of the subnormal
// step by adding and removing subMagic. The vector kernel below does the same lane by lane.
float roundOne(float x, const MiniFloatSpec& c) {
    const std::uint32_t b = std::bit_cast<std::uint32_t>(x);
    const std::uint32_t absBits = b & 0x7fffffffu, sign = b ^ absBits;
    const float a = std::bit_cast<float>(absBits);
    const float normal = std::bit_cast<float>((absBits + c.half + ((absBits >> c.drop) & 1u)) & c.mask);
    const float sub = (a + c.subMagic) - c.subMagic;
    float q = a < c.minNormal ? sub : normal;
    q = q > c.maxValue ? c.maxValue : q; // saturate (inf too)
    q = a != a ? a : q;                  // NaN in, NaN out
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(q) | sign);
}

// 2^e with -126 <= e <= 126: a normal power of two whose reciprocal is a normal float32 too.
bool isPowerOfTwoWithReciprocal(float scale) {
    const std::uint32_t b = std::bit_cast<std::uint32_t>(scale);
    const std::uint32_t field = (b >> 23) & 0xffu;
    return (b & 0x807fffffu) == 0 && field >= 1 && field <= 253;
}

} // namespace

namespace {

// The kernel over runs; kRunVectors > 0 fixes the run at kRunVectors * 8 values (MX's 32, NV's 16) so
// the compiler unrolls each run's vectors, 0 takes `run` as it comes.
template <std::size_t kRunVectors>
void roundRuns(const float* in, float* out, std::size_t n, std::size_t run, const MiniFloatSpec& s,
               const ScaleParams* params) {
    using namespace simd;
    if constexpr (kRunVectors > 0) run = kRunVectors * kLanes;
    // Locals, not members of s: a store to out could alias s, which would reload them every vector.
    const int drop = s.drop;
    const F8 vMinNormal = splat(s.minNormal), vMagic = splat(s.subMagic), vMax = splat(s.maxValue);
    const U8 vHalf = splatU(s.half), vMask = splatU(s.mask);
    auto round = [&](F8 x) {
        const U8 b = bits(x);
        const U8 absBits = b & 0x7fffffffu, sign = b ^ absBits;
        const F8 a = fromBits(absBits);
        const F8 normal = fromBits((absBits + vHalf + ((absBits >> drop) & 1u)) & vMask);
        const F8 sub = (a + vMagic) - vMagic;
        F8 q = select(a < vMinNormal, sub, normal);
        q = select(q > vMax, vMax, q);
        q = select(a != a, a, q);
        return fromBits(bits(q) | sign);
    };
    forEachScaledRun(out, n, run, params, [&](std::size_t start, std::size_t end, const ScaleParams& p) {
        const float scale = p.scale;
        const F8 vScale = splat(scale);
        std::size_t i = start;
        // Dividing by a power of two whose reciprocal is a float32 (MX scales, casts) equals multiplying
        // by that reciprocal exactly: both round the same exact product once. Division is ~4x the cost.
        const bool exactReciprocal = isPowerOfTwoWithReciprocal(scale);
        const F8 vInvScale = splat(exactReciprocal ? 1.0f / scale : 1.0f);
        auto vectors = [&](std::size_t count) { // inlined: a constant count unrolls
            if (exactReciprocal)
                for (std::size_t v = 0; v < count; ++v, i += kLanes) store(out + i, round(load(in + i) * vInvScale) * vScale);
            else
                for (std::size_t v = 0; v < count; ++v, i += kLanes) store(out + i, round(load(in + i) / vScale) * vScale);
        };
        if (kRunVectors > 0 && end - start == run) return vectors(kRunVectors);
        vectors((end - start) / kLanes);
        for (; i < end; ++i) out[i] = roundOne(in[i] / scale, s) * scale;
    });
}

#if QS_AVX512_KERNELS
// roundRuns for runs of 16 or 32 values (NV and MX blocks) on AVX-512: a run is one or two vectors,
// each value the same lane operations as round() above, so the same bits.
__attribute__((target("avx512f"))) void roundRuns512(const float* in, float* out, std::size_t n,
                                                     std::size_t run, const MiniFloatSpec& s,
                                                     const ScaleParams* params) {
    const __m512i vHalf = _mm512_set1_epi32(static_cast<int>(s.half));
    const __m512i vMask = _mm512_set1_epi32(static_cast<int>(s.mask));
    const __m512i vAbs = _mm512_set1_epi32(0x7fffffff), vOne = _mm512_set1_epi32(1);
    const __m128i vDrop = _mm_cvtsi32_si128(s.drop);
    const __m512 vMinNormal = _mm512_set1_ps(s.minNormal), vMagic = _mm512_set1_ps(s.subMagic);
    const __m512 vMax = _mm512_set1_ps(s.maxValue);
    for (std::size_t start = 0; start < n; start += run, ++params) {
        const std::size_t end = std::min(n, start + run);
        const float scale = params->scale;
        if (scale == 0.0f) {
            std::fill(out + start, out + end, 0.0f);
            continue;
        }
        const __m512 vScale = _mm512_set1_ps(scale);
        const bool exactReciprocal = isPowerOfTwoWithReciprocal(scale); // as in roundRuns
        const __m512 vInvScale = _mm512_set1_ps(exactReciprocal ? 1.0f / scale : 1.0f);
        std::size_t i = start;
        for (; i + 16 <= end; i += 16) {
            const __m512 x = _mm512_loadu_ps(in + i);
            const __m512 ratio = exactReciprocal ? _mm512_mul_ps(x, vInvScale) : _mm512_div_ps(x, vScale);
            const __m512i b = _mm512_castps_si512(ratio);
            const __m512i absBits = _mm512_and_si512(b, vAbs), sign = _mm512_xor_si512(b, absBits);
            const __m512 a = _mm512_castsi512_ps(absBits);
            // maskz with every lane: the plain shift's undefined source draws a GCC 12 warning.
            const __m512i lsb = _mm512_and_si512(_mm512_maskz_srl_epi32(0xFFFF, absBits, vDrop), vOne);
            const __m512i up = _mm512_add_epi32(_mm512_add_epi32(absBits, vHalf), lsb);
            const __m512 normal = _mm512_castsi512_ps(_mm512_and_si512(up, vMask));
            const __m512 sub = _mm512_sub_ps(_mm512_add_ps(a, vMagic), vMagic);
            __m512 q = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, vMinNormal, _CMP_LT_OQ), normal, sub);
            q = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(q, vMax, _CMP_GT_OQ), q, vMax);
            q = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), q, a);
            const __m512 withSign = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(q), sign));
            _mm512_storeu_ps(out + i, _mm512_mul_ps(withSign, vScale));
        }
        for (; i < end; ++i) out[i] = roundOne(in[i] / scale, s) * scale;
    }
}
#endif

} // namespace

void roundMiniFloatRuns(const float* in, float* out, std::size_t n, std::size_t run, const MiniFloatSpec& s,
                        const ScaleParams* params) {
#if QS_AVX512_KERNELS
    if ((run == 16 || run == 32) && useAvx512()) return roundRuns512(in, out, n, run, s, params);
#endif
    if (run == 16) return roundRuns<2>(in, out, n, run, s, params);
    if (run == 32) return roundRuns<4>(in, out, n, run, s, params);
    roundRuns<0>(in, out, n, run, s, params);
}

void roundMiniFloat(const float* in, float* out, std::size_t n, const MiniFloatSpec& s, float scale) {
    const ScaleParams p{scale, 0.0f};
    if (n > 0) roundMiniFloatRuns(in, out, n, n, s, &p);
}

float roundMiniFloatOne(float x, const MiniFloatSpec& s) { return roundOne(x, s); }

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
