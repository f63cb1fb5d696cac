// SPDX-License-Identifier: MIT
#include "formats/float_formats.h"

#include "formats/int_format.h"
#include "formats/minifloat.h"

#include <algorithm>
#include <cmath>

namespace qs::core {
namespace {

// Largest exponent of a normal element value (E2M1: 2, E4M3: 8, E5M2: 15, E3M2: 4, E2M3: 2; int8: 0).
int elementEmax(const FormatTraits& f) {
    if (!f.element) return 0;
    int e;
    std::frexp(f.element->maxValue, &e);
    return e - 1;
}

} // namespace

ScaleParams scaledFloatFit(const FormatTraits& f, const RangeStats& run, const RangeStats&, const ElementOptions&) {
    return {run.amax > 0.0f ? run.amax / f.element->maxValue : 1.0f, 0.0f};
}

void scaledFloatApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
                      const ElementOptions&) {
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    roundMiniFloat(in, out, n, *f.element, p.scale);
}

ScaleParams mxFit(const FormatTraits& f, const RangeStats& run, const RangeStats&, const ElementOptions&) {
    if (!(run.amax > 0.0f)) return {0.0f, 0.0f};
    int e;
    std::frexp(run.amax, &e); // amax = m * 2^e, 0.5 <= m < 1, so floor(log2(amax)) = e - 1 exactly
    const int shared = std::clamp(e - 1 - elementEmax(f), -127, 127);
    const float x = std::ldexp(1.0f, shared);
    return {f.element ? x : std::ldexp(x, -6), 0.0f};
}

void mxApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
             const ElementOptions&) {
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    if (f.element)
        roundMiniFloat(in, out, n, *f.element, p.scale);
    else
        intApplyRange(in, out, n, p.scale, 0.0f, -128.0f, 127.0f);
}

ScaleParams nvFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor, const ElementOptions&) {
    const float qmax = f.element ? f.element->maxValue : 7.0f;
    const float global = tensor.amax / (qmax * 448.0f);
    if (!(global > 0.0f)) return {0.0f, 0.0f};
    const float r = (run.amax / qmax) / global; // two float32 operations, in this order
    const float block = roundMiniFloatRef(r, minifloat::kE4M3);
    return {block * global, 0.0f};
}

void nvApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
             const ElementOptions&) {
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    if (f.element)
        roundMiniFloat(in, out, n, *f.element, p.scale);
    else
        intApplyRange(in, out, n, p.scale, 0.0f, -7.0f, 7.0f);
}

ScaleParams castFit(const FormatTraits&, const RangeStats&, const RangeStats&, const ElementOptions&) {
    return {1.0f, 0.0f};
}

void castApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams&,
               const ElementOptions&) {
    roundMiniFloat(in, out, n, *f.element, 1.0f);
}

} // namespace qs::core
