// SPDX-License-Identifier: MIT
#include "formats/float_formats.h"

#include "formats/int_format.h"
#include "formats/minifloat.h"
#include "tensor/simd.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>

namespace qs::core {
namespace {

// Largest exponent of a normal element value (E2M1: 2, E4M3: 8, E5M2: 15, E3M2: 4, E2M3: 2; int8: 0).
// maxValue is a normal float32, so its exponent field says it (no libm call per block).
int elementEmax(const FormatTraits& f) {
    return f.element ? static_cast<int>(std::bit_cast<std::uint32_t>(f.element->maxValue) >> 23) - 127 : 0;
}

// Elements of MX/NV blocks: a minifloat grid, or integer codes lo..hi where the format has no element spec.
void blockElementRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                      const ScaleParams* params, float lo, float hi) {
    if (f.element)
        roundMiniFloatRuns(in, out, n, run, *f.element, params);
    else
        intGridRuns(in, out, n, run, params, lo, hi);
}

} // namespace

ScaleParams scaledFloatFit(const FormatTraits& f, const RangeStats& run, const RangeStats&, const ElementOptions&) {
    return {run.amax > 0.0f ? run.amax / f.element->maxValue : 1.0f, 0.0f};
}

void scaledFloatFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats&,
                            const ElementOptions&, ScaleParams* out) {
    amaxOverDivisorRuns(amax, count, f.element->maxValue, out);
}

void scaledFloatApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                          const ScaleParams* params, const ElementOptions&) {
    roundMiniFloatRuns(in, out, n, run, *f.element, params);
}

ScaleParams mxFit(const FormatTraits& f, const RangeStats& run, const RangeStats&, const ElementOptions&) {
    if (!(run.amax > 0.0f)) return {0.0f, 0.0f};
    // floor(log2(amax)) exactly: the biased exponent field of a normal float32 (frexp for subnormals).
    const auto bitsOfAmax = std::bit_cast<std::uint32_t>(run.amax);
    int e = static_cast<int>(bitsOfAmax >> 23) - 127;
    if (e == -127) std::frexp(run.amax, &e), --e;
    const int shared = std::clamp(e - elementEmax(f), -127, 127) - (f.element ? 0 : 6);
    return {shared >= -126 ? std::bit_cast<float>(static_cast<std::uint32_t>(shared + 127) << 23) : std::ldexp(1.0f, shared),
            0.0f};
}

void mxFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                   const ElementOptions& o, ScaleParams* out) {
    using namespace simd;
    const I8 bias = I8{} + (127 + elementEmax(f)), lowest = I8{} - 127, highest = I8{} + 127,
             implicit = I8{} + (f.element ? 0 : 6);
    std::size_t k = 0;
    for (; k + kLanes <= count; k += kLanes) {
        const U8 amaxBits = bits(load(amax + k));
        const I8 field = reinterpret_cast<const I8&>(amaxBits) >> 23; // a negative amax gives < 0
        I8 shared = field - bias;
        shared = shared < lowest ? lowest : shared;
        shared = shared > highest ? highest : shared;
        shared -= implicit;
        // mxFit's arithmetic where amax is a positive normal float32 and the scale a normal one.
        const I8 regular = (field > 0) & (field < 255) & (shared > lowest);
        const I8 scaleBits = (shared + 127) << 23;
        for (int j = 0; j < kLanes; ++j)
            out[k + j] = regular[j] ? ScaleParams{std::bit_cast<float>(scaleBits[j]), 0.0f}
                                    : mxFit(f, {-amax[k + j], amax[k + j], amax[k + j]}, tensor, o);
    }
    for (; k < count; ++k) out[k] = mxFit(f, {-amax[k], amax[k], amax[k]}, tensor, o);
}

void mxApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                 const ScaleParams* params, const ElementOptions&) {
    blockElementRuns(f, in, out, n, run, params, -128.0f, 127.0f);
}

ScaleParams nvFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor, const ElementOptions&) {
    const float qmax = f.element ? f.element->maxValue : 7.0f;
    const float global = tensor.amax / (qmax * 448.0f);
    if (!(global > 0.0f)) return {0.0f, 0.0f};
    const float r = (run.amax / qmax) / global; // two float32 operations, in this order
    const float block = roundMiniFloatOne(r, minifloat::kE4M3); // once per block: no vector set-up
    return {block * global, 0.0f};
}

void nvFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                   const ElementOptions&, ScaleParams* out) {
    using namespace simd;
    const float qmax = f.element ? f.element->maxValue : 7.0f;
    const float global = tensor.amax / (qmax * 448.0f);
    if (!(global > 0.0f)) return std::fill(out, out + count, ScaleParams{0.0f, 0.0f});
    constexpr std::size_t kChunk = 256;
    float block[kChunk];
    for (std::size_t start = 0; start < count; start += kChunk) {
        const std::size_t n = std::min(kChunk, count - start);
        std::size_t i = 0;
        for (; i + kLanes <= n; i += kLanes) store(block + i, (load(amax + start + i) / splat(qmax)) / splat(global));
        for (; i < n; ++i) block[i] = (amax[start + i] / qmax) / global;
        roundMiniFloat(block, block, n, minifloat::kE4M3, 1.0f);
        for (i = 0; i < n; ++i) out[start + i] = {block[i] * global, 0.0f};
    }
}

void nvApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                 const ScaleParams* params, const ElementOptions&) {
    blockElementRuns(f, in, out, n, run, params, -7.0f, 7.0f);
}

ScaleParams castFit(const FormatTraits&, const RangeStats&, const RangeStats&, const ElementOptions&) {
    return {1.0f, 0.0f};
}

void castApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams&,
               const ElementOptions&) {
    roundMiniFloat(in, out, n, *f.element, 1.0f);
}

} // namespace qs::core
