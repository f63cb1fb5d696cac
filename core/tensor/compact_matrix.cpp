// SPDX-License-Identifier: MIT
#include "tensor/compact_matrix.h"

#include "base/error.h"
#include "tensor/half.h"

#include <algorithm>
#include <array>
#include <bit>
#include <functional>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace qs::core {
namespace {

std::atomic<bool> g_compactAllowed{true};

// x / scale as the lattice tests compute it: times the reciprocal (within an ulp of the quotient, so
// the same integer is nearest for |codes| <= 128; the exact test decides anyway).
#if defined(__AVX2__)
__m256 ratio8(const float* x, __m256 inv) {
    return _mm256_mul_ps(_mm256_loadu_ps(x), inv);
}
__m256 round8(__m256 t) {
    return _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#endif

// Codes of x[0..n) at `scale` when every value is float(code) * scale exactly (zeros of either sign).
bool codesAt(const float* x, std::int64_t n, float scale, std::int8_t* codes) {
    const float inv = 1.0f / scale;
    std::int64_t i = 0;
#if defined(__AVX2__)
    const __m256 vInv = _mm256_set1_ps(inv), vScale = _mm256_set1_ps(scale);
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 q = round8(ratio8(x + i, vInv));
        const __m256 ok = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(q, lo, _CMP_GE_OQ), _mm256_cmp_ps(q, hi, _CMP_LE_OQ)),
                                        _mm256_cmp_ps(_mm256_mul_ps(q, vScale), _mm256_loadu_ps(x + i), _CMP_EQ_OQ));
        if (_mm256_movemask_ps(ok) != 0xFF) return false;
        const __m256i q32 = _mm256_cvtps_epi32(q);
        const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q32), _mm256_extracti128_si256(q32, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packs_epi16(q16, q16));
    }
#endif
    for (; i < n; ++i) {
        const float q = std::nearbyint(x[i] * inv);
        if (!(q >= -128.0f && q <= 127.0f) || q * scale != x[i]) return false;
        codes[i] = static_cast<std::int8_t>(q);
    }
    return true;
}

// Whether every x / scale is within `slack` of an integer: a cheap test that rules a lattice out
// before the exact one.
bool nearLattice(const float* x, std::int64_t n, float scale, float slack) {
    const float inv = 1.0f / scale;
    std::int64_t i = 0;
#if defined(__AVX2__)
    const __m256 vInv = _mm256_set1_ps(inv), vSlack = _mm256_set1_ps(slack);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 t = ratio8(x + i, vInv);
        const __m256 off = _mm256_andnot_ps(sign, _mm256_sub_ps(t, round8(t)));
        if (_mm256_movemask_ps(_mm256_cmp_ps(off, vSlack, _CMP_LE_OQ)) != 0xFF) return false;
    }
#endif
    for (; i < n; ++i) {
        const float t = x[i] * inv;
        if (!(std::fabs(t - std::nearbyint(t)) <= slack)) return false;
    }
    return true;
}

// The largest magnitude of x[0..n) into amax; false where a value is a NaN or an infinity (on no
// grid). A magnitude's bits order as the magnitudes do, and those of NaN and inf are the largest.
bool finiteAmax(const float* x, std::int64_t n, float& amax) {
    std::uint32_t top = 0;
    std::int64_t i = 0;
#if defined(__AVX2__)
    const __m256i magnitude = _mm256_set1_epi32(0x7fffffff);
    __m256i vTop = _mm256_setzero_si256();
    for (; i + 8 <= n; i += 8)
        vTop = _mm256_max_epu32(vTop, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), magnitude));
    alignas(32) std::uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), vTop);
    top = *std::max_element(lanes, lanes + 8);
#endif
    for (; i < n; ++i) top = std::max(top, std::bit_cast<std::uint32_t>(x[i]) & 0x7fffffffu);
    amax = std::bit_cast<float>(top);
    return top < 0x7f800000u;
}

// What fitting one run gives (its scale and, for int codes, the offset added to them), and what a
// lattice fit passes on to the next run of the same line: the divisor that fitted (0: none yet).
struct RunFit {
    float scale = 0.0f;
    std::int8_t offset = 0;
    int divisor = 0;
};

// A run's scale from its largest magnitude: the value there is some grid step `divisor` times the
// scale, rounded once, so the scale is within two ulps of amax / divisor. Where `plausible` lets it
// through, the floats there are tried exactly by `codesAt(scale)` (which may write codes on failing).
template <typename Plausible, typename CodesAt>
[[gnu::always_inline]] inline bool fitAtDivisor(float amax, float divisor, const Plausible& plausible,
                                                const CodesAt& codesAt, float& scale) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    float up = amax / divisor, down = up;
    if (!(up > 0.0f) || !std::isfinite(up) || !plausible(up)) return false;
    if (codesAt(up)) return scale = up, true;
    for (int ulps = 1; ulps <= 2; ++ulps) {
        up = std::nextafter(up, inf);
        down = std::nextafter(down, 0.0f);
        if (std::isfinite(up) && codesAt(up)) return scale = up, true;
        if (down > 0.0f && codesAt(down)) return scale = down, true;
    }
    return false;
}

// A run of zeros: scale 0 and codes 0 (true); else false.
bool zeroRun(float amax, std::int64_t n, float& scale, std::int8_t* codes) {
    if (amax != 0.0f) return false;
    scale = 0.0f;
    std::fill(codes, codes + n, std::int8_t{0});
    return true;
}

// The scale of one run at the first of `divisors` (in order) that fits; a NaN or an infinity is on
// no grid.
template <typename Divisors, typename Plausible, typename CodesAt>
bool fitFromAmax(const float* x, std::int64_t n, const Divisors& divisors, const Plausible& plausible,
                 const CodesAt& codesAt, float& scale, std::int8_t* codes) {
    float amax = 0.0f;
    if (!finiteAmax(x, n, amax)) return false;
    if (zeroRun(amax, n, scale, codes)) return true;
    for (const float divisor : divisors)
        if (fitAtDivisor(amax, divisor, plausible, codesAt, scale)) return true;
    return false;
}

// Every x / (amax / c) is within 255 * 2^-22 of its code at the right c: the c that pass this cheap
// test have their scales tried exactly.
constexpr float kLatticeSlack = 1.0f / 4096.0f;

// The divisors of c in 1..255, ascending (a table: no integer division per run).
const std::vector<std::uint8_t>& divisorsOf(int c) {
    static const auto table = [] {
        std::array<std::vector<std::uint8_t>, 256> t;
        for (int d = 1; d < 256; ++d)
            for (int m = d; m < 256; m += d) t[static_cast<std::size_t>(m)].push_back(static_cast<std::uint8_t>(d));
        return t;
    }();
    return table[static_cast<std::size_t>(c)];
}

// The coarsest integer lattice of one run with its amax at code c <= `limit`: the smallest c at which
// `codesAt` holds. Every c that holds is a multiple of the smallest (a finer lattice's codes are the
// coarsest's times an integer), so where the line's last run's divisor holds again, the smallest is
// among its divisors: a line of runs sharing their amax code (127 for Q8_0 and INT8 blocks) tries two
// divisors rather than 127. The first divisor of the last one (ascending, itself last) that holds is
// the smallest; where none does, every c from 1 is tried.
template <typename CodesAt>
bool fitLattice(const float* x, std::int64_t n, int limit, RunFit& fit, const CodesAt& codesAt, std::int8_t* codes) {
    float amax = 0.0f;
    if (!finiteAmax(x, n, amax)) return false;
    if (zeroRun(amax, n, fit.scale, codes)) return true;
    const auto plausible = [&](float s) { return nearLattice(x, n, s, kLatticeSlack); };
    const auto at = [&](int c) { return fitAtDivisor(amax, static_cast<float>(c), plausible, codesAt, fit.scale); };
    if (fit.divisor > 0 && fit.divisor <= limit)
        for (const int c : divisorsOf(fit.divisor))
            if (at(c)) return fit.divisor = c, true;
    for (int c = 1; c <= limit; ++c)
        if (at(c)) return fit.divisor = c, true;
    return false;
}

// The scale and codes of one run on an integer lattice of at most 128 steps a side, if it is on one.
bool fitRun(const float* x, std::int64_t n, RunFit& fit, std::int8_t* codes) {
    return fitLattice(x, n, 128, fit, [&](float s) { return codesAt(x, n, s, codes); }, codes);
}

// The smallest and the largest of n >= 1 codes.
std::pair<int, int> codeRange(const std::int8_t* codes, std::int64_t n) {
    std::int8_t low = codes[0], high = codes[0];
    std::int64_t i = 0;
#if defined(__AVX2__)
    if (n >= 32) {
        __m256i vLow = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes)), vHigh = vLow;
        for (i = 32; i + 32 <= n; i += 32) {
            const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i));
            vLow = _mm256_min_epi8(vLow, c), vHigh = _mm256_max_epi8(vHigh, c);
        }
        __m128i l = _mm_min_epi8(_mm256_castsi256_si128(vLow), _mm256_extracti128_si256(vLow, 1));
        __m128i h = _mm_max_epi8(_mm256_castsi256_si128(vHigh), _mm256_extracti128_si256(vHigh, 1));
        // Halve the lanes four times: byte 0 ends with the extreme (zeros shifted in reach only bytes
        // that byte 0 no longer reads).
        l = _mm_min_epi8(l, _mm_srli_si128(l, 8)), h = _mm_max_epi8(h, _mm_srli_si128(h, 8));
        l = _mm_min_epi8(l, _mm_srli_si128(l, 4)), h = _mm_max_epi8(h, _mm_srli_si128(h, 4));
        l = _mm_min_epi8(l, _mm_srli_si128(l, 2)), h = _mm_max_epi8(h, _mm_srli_si128(h, 2));
        l = _mm_min_epi8(l, _mm_srli_si128(l, 1)), h = _mm_max_epi8(h, _mm_srli_si128(h, 1));
        low = static_cast<std::int8_t>(_mm_cvtsi128_si32(l)), high = static_cast<std::int8_t>(_mm_cvtsi128_si32(h));
    }
#endif
    for (; i < n; ++i) low = std::min(low, codes[i]), high = std::max(high, codes[i]);
    return {low, high};
}

// The offset o that brings codes low..high into codeLow..codeHigh (every code - o there): 0 where they
// already lie there, else the bound nearer 0 of [high - codeHigh, low - codeLow] (which must exist:
// high - low <= codeHigh - codeLow).
int runOffset(int low, int high, int codeLow, int codeHigh) {
    return std::clamp(0, high - codeHigh, low - codeLow);
}

// fitRun where the run's codes span at most 16 values, so that less an offset they lie in -8..7 and
// take 4 bits (INT4 asymmetric's q - zero): the offset is 0 where they already do, else the bound
// nearer 0 of [max - 7, min + 8]. The codes are stored less the offset.
bool fitNibbleRun(const float* x, std::int64_t n, RunFit& fit, std::int8_t* codes) {
    if (!fitRun(x, n, fit, codes)) return false;
    const auto [low, high] = codeRange(codes, n);
    if (high - low > 15) return false;
    fit.offset = static_cast<std::int8_t>(runOffset(low, high, -8, 7)); // within int8: |code| <= 128
    if (fit.offset != 0)
        for (std::int64_t i = 0; i < n; ++i) codes[i] = static_cast<std::int8_t>(codes[i] - fit.offset);
    return true;
}

// Codes of x[0..n) at `scale` less a run offset when every value is float(code + offset) * scale
// exactly: the integers k = x / scale may reach ±255 but span at most 256 values (an 8-bit
// asymmetric grid's q - zero lie in -zero..255 - zero). The offset is 0 where the k lie in int8,
// else the bound nearer 0 of [max k - 127, min k + 128], which must itself be an int8.
bool offsetCodesAt(const float* x, std::int64_t n, float scale, std::int8_t& offset, std::int8_t* codes) {
    const float inv = 1.0f / scale;
    float low = 0.0f, high = 0.0f;
    std::int64_t i = 0;
#if defined(__AVX2__)
    const __m256 vInv = _mm256_set1_ps(inv), vScale = _mm256_set1_ps(scale), limit = _mm256_set1_ps(255.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 vLow = _mm256_setzero_ps(), vHigh = vLow;
    for (; i + 8 <= n; i += 8) {
        const __m256 k = round8(ratio8(x + i, vInv));
        const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, k), limit, _CMP_LE_OQ),
                                        _mm256_cmp_ps(_mm256_mul_ps(k, vScale), _mm256_loadu_ps(x + i), _CMP_EQ_OQ));
        if (_mm256_movemask_ps(ok) != 0xFF) return false;
        vLow = _mm256_min_ps(vLow, k), vHigh = _mm256_max_ps(vHigh, k);
    }
    alignas(32) float lows[8], highs[8];
    _mm256_store_ps(lows, vLow), _mm256_store_ps(highs, vHigh);
    low = *std::min_element(lows, lows + 8), high = *std::max_element(highs, highs + 8);
#endif
    for (std::int64_t j = i; j < n; ++j) {
        const float k = std::nearbyint(x[j] * inv);
        if (!(std::fabs(k) <= 255.0f) || k * scale != x[j]) return false;
        low = std::min(low, k), high = std::max(high, k);
    }
    if (high - low > 255.0f) return false;
    const int o = runOffset(static_cast<int>(low), static_cast<int>(high), -128, 127);
    if (o > 127) return false; // all of 0..255 with the zero point at 0
    offset = static_cast<std::int8_t>(o);
    i = 0;
#if defined(__AVX2__)
    const __m256 vOffset = _mm256_set1_ps(static_cast<float>(o));
    for (; i + 8 <= n; i += 8) {
        const __m256i q32 = _mm256_cvtps_epi32(_mm256_sub_ps(round8(ratio8(x + i, vInv)), vOffset));
        const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q32), _mm256_extracti128_si256(q32, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packs_epi16(q16, q16));
    }
#endif
    for (; i < n; ++i) codes[i] = static_cast<std::int8_t>(std::nearbyint(x[i] * inv) - static_cast<float>(o));
    return true;
}

// The scale, offset and codes of one run on an integer lattice of at most 255 steps a side and 256
// values, if it is on one (8-bit asymmetric INT, which fitRun's int8 codes cannot hold).
bool fitOffsetRun(const float* x, std::int64_t n, RunFit& fit, std::int8_t* codes) {
    fit.offset = 0;
    return fitLattice(x, n, 255, fit, [&](float s) { return offsetCodesAt(x, n, s, fit.offset, codes); }, codes);
}

// A code book prepared for the search: its values ascending, the midpoints between neighbours, and
// its distinct nonzero magnitudes, largest first (the candidates for the value at a run's amax).
struct CodeBookSearch {
    std::vector<float> values, midpoints, magnitudes;
    std::array<float, CompactMatrixView::kCodeBookSize> table{};
};

std::optional<CodeBookSearch> prepareCodeBook(const std::vector<float>& book) {
    CodeBookSearch s;
    for (float v : book)
        if (!std::isfinite(v)) return std::nullopt;
    s.values = book;
    std::sort(s.values.begin(), s.values.end());
    s.values.erase(std::unique(s.values.begin(), s.values.end()), s.values.end()); // -0 == +0: one zero
    if (s.values.empty() || s.values.size() > s.table.size()) return std::nullopt;
    for (std::size_t i = 0; i < s.values.size(); ++i) {
        s.table[i] = s.values[i] == 0.0f ? 0.0f : s.values[i];
        if (i > 0) s.midpoints.push_back(0.5f * (s.values[i - 1] + s.values[i]));
        if (s.values[i] != 0.0f) s.magnitudes.push_back(std::fabs(s.values[i]));
    }
    std::sort(s.magnitudes.begin(), s.magnitudes.end(), std::greater<>());
    s.magnitudes.erase(std::unique(s.magnitudes.begin(), s.magnitudes.end()), s.magnitudes.end());
    return s;
}

// Codes of x[0..n) into the code book at `scale` when every value is float(value * scale) exactly.
// The nearest value to x / scale is the only candidate: a value times the scale, divided back (here
// multiplied by the reciprocal), lands within a few ulps of it, far from any midpoint.
bool bookCodesAt(const float* x, std::int64_t n, float scale, const CodeBookSearch& book, std::int8_t* codes) {
    const float inv = 1.0f / scale;
    std::int64_t i = 0;
#if defined(__AVX2__)
    const __m256 vInv = _mm256_set1_ps(inv), vScale = _mm256_set1_ps(scale);
    const __m256 low = _mm256_loadu_ps(book.table.data()), high = _mm256_loadu_ps(book.table.data() + 8);
    for (; i + 8 <= n; i += 8) {
        const __m256 xs = _mm256_loadu_ps(x + i), t = _mm256_mul_ps(xs, vInv);
        __m256i idx = _mm256_setzero_si256();
        for (float m : book.midpoints) // a true comparison is all ones, i.e. -1
            idx = _mm256_sub_epi32(idx, _mm256_castps_si256(_mm256_cmp_ps(t, _mm256_set1_ps(m), _CMP_GE_OQ)));
        const __m256 value = codeBookValues(idx, low, high);
        if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_mul_ps(value, vScale), xs, _CMP_EQ_OQ)) != 0xFF) return false;
        const __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(idx), _mm256_extracti128_si256(idx, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packs_epi16(i16, i16));
    }
#endif
    for (; i < n; ++i) {
        const float t = x[i] * inv;
        const auto code = static_cast<std::size_t>(std::count_if(book.midpoints.begin(), book.midpoints.end(),
                                                                 [t](float m) { return t >= m; }));
        if (!(book.table[code] * scale == x[i])) return false;
        codes[i] = static_cast<std::int8_t>(code);
    }
    return true;
}

// The scale and codes of one run in the code book, if it is in it: its largest magnitude is one of
// the book's magnitudes times the scale.
bool fitBookRun(const float* x, std::int64_t n, const CodeBookSearch& book, float& scale, std::int8_t* codes) {
    return fitFromAmax(
        x, n, book.magnitudes, [](float) { return true; }, [&](float s) { return bookCodesAt(x, n, s, book, codes); },
        scale, codes);
}

// A mini-float layout prepared for the search: its positive values, largest first (the candidates for
// the value at a run's amax), and the exponents of its two top binades (an MX block's power-of-two
// scale puts the amax in one of them: the top, or the one below where the top holds infinities).
struct MiniFloatSearch {
    MiniFloatLayout layout;
    std::vector<float> magnitudes;
    int topExponent = 0;
};

MiniFloatSearch prepareMiniFloat(const MiniFloatLayout& layout) {
    MiniFloatSearch s{layout, {}, ((1 << layout.exponent) - 1) - layout.bias};
    for (unsigned code = 1; code < (1u << (layout.exponent + layout.mantissa)); ++code)
        s.magnitudes.push_back(layout.decode(code));
    std::sort(s.magnitudes.begin(), s.magnitudes.end(), std::greater<>());
    return s;
}

// Codes of x[0..n) in the layout at `scale` when every value is decode(code) * scale exactly. |x| /
// scale (times the reciprocal: within a few ulps of its grid value) times 2^(bias - 127) holds the
// code's magnitude in its float32 bits, rounded at the code's last mantissa bit (a float32 subnormal
// where the code is subnormal); the exact test decides.
bool miniFloatCodesAt(const float* x, std::int64_t n, float scale, const MiniFloatLayout& layout, std::int8_t* codes) {
    const float inv = 1.0f / scale;
    const float scaleDown = std::ldexp(1.0f, layout.bias - 127);
    const int fieldBits = layout.exponent + layout.mantissa, drop = 23 - layout.mantissa;
    const std::uint32_t half = 1u << (drop - 1), limit = 1u << fieldBits;
    std::int64_t i = 0;
#if defined(__AVX2__)
    const __m256 vInv = _mm256_set1_ps(inv), vScale = _mm256_set1_ps(scale), vDown = _mm256_set1_ps(scaleDown);
    const __m256 signMask = _mm256_set1_ps(-0.0f);
    const __m256i vHalf = _mm256_set1_epi32(static_cast<int>(half)), vLimit = _mm256_set1_epi32(static_cast<int>(limit));
    const __m128i vDrop = _mm_cvtsi32_si128(drop), toSignField = _mm_cvtsi32_si128(31 - fieldBits);
    const MiniFloatDecoder decode(layout);
    for (; i + 8 <= n; i += 8) {
        const __m256 xs = _mm256_loadu_ps(x + i), sign = _mm256_and_ps(xs, signMask);
        const __m256 u = _mm256_mul_ps(_mm256_mul_ps(_mm256_andnot_ps(signMask, xs), vInv), vDown);
        const __m256i magnitude = _mm256_srl_epi32(_mm256_add_epi32(_mm256_castps_si256(u), vHalf), vDrop);
        const __m256i code = _mm256_or_si256(magnitude, _mm256_srl_epi32(_mm256_castps_si256(sign), toSignField));
        const __m256 ok = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(vLimit, magnitude)),
                                        _mm256_cmp_ps(_mm256_mul_ps(decode(code), vScale), xs, _CMP_EQ_OQ));
        if (_mm256_movemask_ps(ok) != 0xFF) return false;
        const __m128i c16 = _mm_packus_epi32(_mm256_castsi256_si128(code), _mm256_extracti128_si256(code, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packus_epi16(c16, c16));
    }
#endif
    for (; i < n; ++i) {
        const float u = std::fabs(x[i]) * inv * scaleDown;
        const std::uint32_t magnitude = (std::bit_cast<std::uint32_t>(u) + half) >> drop;
        const unsigned code = magnitude | (std::signbit(x[i]) ? limit : 0u);
        if (!(magnitude < limit) || !(layout.decode(code) * scale == x[i])) return false;
        codes[i] = static_cast<std::int8_t>(static_cast<std::uint8_t>(code));
    }
    return true;
}

// The scale and codes of one run in the layout, if it is on it: a power of two that puts the amax in
// a top binade first (MX), then the amax over each of the layout's magnitudes (scaled FP8).
bool fitMiniFloatRun(const float* x, std::int64_t n, const MiniFloatSearch& grid, float& scale, std::int8_t* codes) {
    const auto codesAt = [&](float s) { return miniFloatCodesAt(x, n, s, grid.layout, codes); };
    float amax = 0.0f;
    if (!finiteAmax(x, n, amax)) return false;
    if (amax > 0.0f)
        for (const int top : {grid.topExponent, grid.topExponent - 1}) {
            const float s = std::ldexp(1.0f, std::ilogb(amax) - top);
            if (std::isnormal(s) && codesAt(s)) return scale = s, true;
        }
    return fitFromAmax(x, n, grid.magnitudes, [](float) { return true; }, codesAt, scale, codes);
}

// Fits every run of `run` values along each of the `lines` (rows, or columns when
// `runsAlongColumns`) of the row-major matrix `values` with `cols` columns: codes in the values'
// layout, one scale and one code offset per run ([line][run]). Stops at the first run on no lattice
// (false). `fitOne(x, n, fit, codes)` fits one run (fitRun, fitNibbleRun, fitOffsetRun, fitBookRun
// with its code book, fitMiniFloatRun with its layout), `fit` carried along the line (RunFit).
template <typename FitOne>
bool fitRuns(std::span<const float> values, std::int64_t cols, std::int64_t lines, std::int64_t length,
             std::int64_t run, bool runsAlongColumns, std::int8_t* codes, float* scales, std::int8_t* offsets,
             const FitOne& fitOne) {
    const std::int64_t runs = (length + run - 1) / run;
    std::atomic<bool> failed{false};
    const bool parallel = static_cast<std::int64_t>(values.size()) >= (1 << 16);
#pragma omp parallel for schedule(static) if (parallel)
    for (std::int64_t line = 0; line < lines; ++line) {
        // A run down a column is gathered (and its codes scattered); along a row it is used in place.
        std::vector<float> x(static_cast<std::size_t>(runsAlongColumns ? run : 0));
        std::vector<std::int8_t> xCodes(x.size());
        RunFit fit; // the line's: its divisor passes from run to run
        for (std::int64_t r = 0; r < runs && !failed.load(std::memory_order_relaxed); ++r) {
            const std::int64_t n = std::min(run, length - r * run);
            fit.scale = 0.0f, fit.offset = 0;
            const auto at = [&](std::int64_t i) { return static_cast<std::size_t>((r * run + i) * cols + line); };
            if (runsAlongColumns)
                for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = values[at(i)];
            const std::size_t first = static_cast<std::size_t>(line * cols + r * run);
            const bool fits = runsAlongColumns ? fitOne(x.data(), n, fit, xCodes.data())
                                               : fitOne(values.data() + first, n, fit, codes + first);
            if (!fits) {
                failed = true;
                break;
            }
            scales[line * runs + r] = fit.scale;
            offsets[line * runs + r] = fit.offset;
            if (runsAlongColumns)
                for (std::int64_t i = 0; i < n; ++i) codes[at(i)] = xCodes[static_cast<std::size_t>(i)];
        }
    }
    return !failed;
}

bool allBf16(std::span<const float> values) {
    return std::all_of(values.begin(), values.end(), [](float v) {
        std::uint32_t u;
        std::memcpy(&u, &v, 4);
        return (u & 0xFFFFu) == 0;
    });
}

} // namespace

CompactMatrix CompactMatrix::fromHalf(std::vector<std::uint16_t> bits, std::int64_t rows, std::int64_t cols, bool bf16) {
    CompactMatrix m;
    m.m_half = std::move(bits);
    m.m_view.kind = bf16 ? CompactMatrixView::Kind::Bf16 : CompactMatrixView::Kind::F16;
    m.m_view.rows = rows;
    m.m_view.cols = cols;
    m.m_view.stride = cols;
    return m;
}

std::optional<CompactMatrix> CompactMatrix::exactly(std::span<const float> values, std::int64_t rows,
                                                    std::int64_t cols, bool runsAlongColumns,
                                                    std::span<const std::vector<float>> codeBooks,
                                                    std::span<const MiniFloatLayout> miniFloats) {
    const std::int64_t lines = runsAlongColumns ? cols : rows, length = runsAlongColumns ? rows : cols;
    if (!compactWeightsAllowed() || length <= 0 || lines <= 0 ||
        static_cast<std::int64_t>(values.size()) != rows * cols)
        return std::nullopt;
    // The first line's first 8 values fitted on their own: they lie in one run at any run length, so
    // a matrix on no grid (a float32 weight) fails this at once, without a pass.
    const auto probeFits = [&](const auto& fitOne) {
        const std::int64_t n = std::min<std::int64_t>(8, length);
        float probe[8];
        std::int8_t codes[8];
        RunFit fit;
        for (std::int64_t i = 0; i < n; ++i) probe[i] = values[static_cast<std::size_t>(runsAlongColumns ? i * cols : i)];
        return fitOne(probe, n, fit, codes);
    };
    // `kind` with one-byte codes at the longest run (the whole line, then 256 down to 8) at which
    // every run fits `fitOne`, if any.
    const auto fitted = [&](CompactMatrixView::Kind kind, const auto& fitOne) -> std::optional<CompactMatrix> {
        if (!probeFits(fitOne)) return std::nullopt;
        CompactMatrix m;
        m.m_view.kind = kind;
        m.m_view.rows = rows;
        m.m_view.cols = cols;
        m.m_view.stride = cols;
        m.m_codes.resize(values.size());
        const std::int64_t shorter[] = {256, 128, 64, 32, 16, 8};
        for (std::size_t tried = 0; tried <= std::size(shorter); ++tried) {
            const std::int64_t run = tried == 0 ? length : shorter[tried - 1];
            if (tried > 0 && run >= length) continue;
            const std::int64_t runs = (length + run - 1) / run;
            m.m_scales.assign(static_cast<std::size_t>(lines * runs), 0.0f);
            m.m_offsets.assign(m.m_scales.size(), 0);
            if (!fitRuns(values, cols, lines, length, run, runsAlongColumns, m.m_codes.data(), m.m_scales.data(),
                         m.m_offsets.data(), fitOne))
                continue;
            if (std::all_of(m.m_offsets.begin(), m.m_offsets.end(), [](std::int8_t o) { return o == 0; }))
                m.m_offsets.clear();
            if (runsAlongColumns) {
                m.m_view.runRows = run;
                m.m_view.scaleRowStep = 1;
                m.m_view.scaleColStep = runs;
            } else {
                m.m_view.runCols = run;
                m.m_view.scaleRowStep = runs;
                m.m_view.scaleColStep = 1;
            }
            return m;
        }
        return std::nullopt;
    };
    const auto fromCodeBooks = [&]() -> std::optional<CompactMatrix> {
        for (const std::vector<float>& codeBook : codeBooks) {
            const std::optional<CodeBookSearch> book = prepareCodeBook(codeBook);
            if (!book) continue;
            const auto fitOne = [&](const float* x, std::int64_t n, RunFit& fit, std::int8_t* codes) {
                return fitBookRun(x, n, *book, fit.scale, codes);
            };
            std::optional<CompactMatrix> m = fitted(CompactMatrixView::Kind::CodeBook, fitOne);
            if (!m) continue;
            m->m_table.assign(book->table.begin(), book->table.end());
            m->packNibbles();
            return m;
        }
        return std::nullopt;
    };
    // Int codes of 4 bits (INT4 and smaller grids, at the longest run where each run's span at most
    // 16 values) go two to a byte. Else a code book's 4-bit codes (NF4, FP4, whose E2M1 values are
    // lattice codes up to ±12) are smaller than int8 codes, which come next, then mini-float codes,
    // codes with an offset per run (8-bit asymmetric INT), BF16.
    if (std::optional<CompactMatrix> m = fitted(CompactMatrixView::Kind::ScaledInt8, fitNibbleRun)) {
        m->packNibbles(); // cannot fail: each run's codes span at most 16 values
        return m;
    }
    if (std::optional<CompactMatrix> m = fromCodeBooks()) return m;
    if (std::optional<CompactMatrix> m = fitted(CompactMatrixView::Kind::ScaledInt8, fitRun)) return m;
    for (const MiniFloatLayout& layout : miniFloats) {
        if (!layout.readable(8)) continue;
        const MiniFloatSearch grid = prepareMiniFloat(layout);
        const auto fitOne = [&](const float* x, std::int64_t n, RunFit& fit, std::int8_t* codes) {
            return fitMiniFloatRun(x, n, grid, fit.scale, codes);
        };
        std::optional<CompactMatrix> m = fitted(CompactMatrixView::Kind::ScaledMiniFloat, fitOne);
        if (!m) continue;
        m->m_view.miniFloat = layout;
        m->packNibbles();
        return m;
    }
    if (std::optional<CompactMatrix> m = fitted(CompactMatrixView::Kind::ScaledInt8, fitOffsetRun)) return m;
    if (!allBf16(values)) return std::nullopt;
    std::vector<std::uint16_t> bits(values.size());
    std::transform(values.begin(), values.end(), bits.begin(), f32ToBf16); // exact: each value is a BF16
    return fromHalf(std::move(bits), rows, cols, true);
}

CompactMatrix CompactMatrix::scaledWithMins(std::vector<std::uint8_t> codes, std::vector<float> scales,
                                            std::vector<float> mins, std::int64_t rows, std::int64_t cols,
                                            std::int64_t run) {
    if (rows < 0 || cols <= 0 || run <= 0 || cols % run != 0 || static_cast<std::int64_t>(codes.size()) != rows * cols ||
        static_cast<std::int64_t>(scales.size()) != rows * (cols / run) || mins.size() != scales.size())
        throw Error("codes with a scale and a min per run: " + std::to_string(codes.size()) + " codes, " +
                    std::to_string(scales.size()) + " scales and " + std::to_string(mins.size()) + " mins do not make " +
                    std::to_string(rows) + " x " + std::to_string(cols) + " in runs of " + std::to_string(run));
    const std::uint8_t top = codes.empty() ? 0 : *std::max_element(codes.begin(), codes.end());
    if (top > 127) throw Error("codes with a scale and a min per run: code " + std::to_string(top) + " is past 127");
    CompactMatrix m;
    m.m_view.kind = CompactMatrixView::Kind::ScaledInt8;
    m.m_view.rows = rows;
    m.m_view.cols = cols;
    m.m_view.stride = cols;
    m.m_view.runCols = run;
    m.m_view.scaleRowStep = cols / run;
    m.m_view.scaleColStep = 1;
    m.m_scales = std::move(scales);
    m.m_mins = std::move(mins);
    // Codes 0..15 go two to a byte as code - 8 (-8..7) with an offset of 8 per run: the same integers.
    const int shift = top <= 15 ? 8 : 0;
    m.m_codes.resize(codes.size());
    std::transform(codes.begin(), codes.end(), m.m_codes.begin(), [&](std::uint8_t q) { return static_cast<std::int8_t>(q - shift); });
    if (shift) {
        m.m_offsets.assign(m.m_scales.size(), static_cast<std::int8_t>(shift));
        m.packNibbles(); // cannot fail: every code lies in -8..7
    }
    return m;
}

bool CompactMatrix::packNibbles() {
    // A book's codes and a mini-float of at most 4 bits always fit; int codes where they lie in -8..7
    // (fitNibbleRun's, after their run's offset).
    const std::int64_t rows = m_view.rows, cols = m_view.cols, stride = cols + cols % 2; // rows start on a byte
    switch (m_view.kind) {
    case CompactMatrixView::Kind::CodeBook: break;
    case CompactMatrixView::Kind::ScaledMiniFloat:
        if (m_view.miniFloat.bits() > 4) return false;
        break;
    default:
        if (std::any_of(m_codes.begin(), m_codes.end(), [](std::int8_t q) { return q < -8 || q > 7; })) return false;
    }
    std::vector<std::int8_t> packed(static_cast<std::size_t>(rows * stride / 2), 0);
    for (std::int64_t r = 0; r < rows; ++r) {
        const auto* src = reinterpret_cast<const std::uint8_t*>(m_codes.data()) + r * cols;
        auto* dst = reinterpret_cast<std::uint8_t*>(packed.data()) + r * stride / 2;
        std::int64_t c = 0;
        for (; c + 1 < cols; c += 2) dst[c / 2] = static_cast<std::uint8_t>((src[c] & 0xF) | (src[c + 1] << 4));
        if (c < cols) dst[c / 2] = src[c] & 0xF;
    }
    m_codes = std::move(packed);
    m_view.stride = stride;
    m_view.nibbles = true;
    return true;
}

bool allowCompactWeights(bool allowed) {
    return g_compactAllowed.exchange(allowed);
}

bool compactWeightsAllowed() { return g_compactAllowed.load(std::memory_order_relaxed); }

CompactMatrixView CompactMatrix::view() const {
    CompactMatrixView v = m_view;
    if (v.scaled()) {
        v.data = m_codes.data();
        v.scales = m_scales.data();
        v.table = m_table.empty() ? nullptr : m_table.data();
        v.offsets = m_offsets.empty() ? nullptr : m_offsets.data();
        v.mins = m_mins.empty() ? nullptr : m_mins.data();
    } else {
        v.data = m_half.data();
    }
    return v;
}

std::size_t CompactMatrix::bytes() const {
    return m_half.size() * sizeof(std::uint16_t) + m_codes.size() + m_offsets.size() +
           (m_scales.size() + m_mins.size() + m_table.size()) * sizeof(float);
}

std::vector<float> CompactMatrix::toFloats() const {
    const CompactMatrixView v = view();
    std::vector<float> out(static_cast<std::size_t>(numel()));
#pragma omp parallel for schedule(static) if (numel() >= (1 << 16))
    for (std::int64_t r = 0; r < v.rows; ++r) compactToFloats(v, r, 0, v.cols, out.data() + r * v.cols);
    return out;
}

} // namespace qs::core
