// SPDX-License-Identifier: MIT
// The format table: one row per number format, in id order. Adding a format = adding a row
// (and its fit/apply pair when it is a new family); tests loop over the table.
#include "formats/code_formats.h"
#include "formats/float_formats.h"
#include "formats/format_traits.h"
#include "formats/int_format.h"
#include "formats/minifloat.h"
#include "tensor/gemm.h"

#include <array>
#include <algorithm>
#include <cmath>

namespace qs::core {
namespace {

using namespace minifloat;

constexpr MiniFloatSpec kBf16 = makeMiniFloat(8, 7, 127, 3.3895313892515355e38f, true, false);

constexpr std::string_view kIntText =
    "Uniform integer grid: values are rounded to the nearest multiple of a scale (ties to even) and clamped "
    "to the k-bit code range. Symmetric grids centre on zero (scale = absmax / (2^(k-1)-1)); asymmetric grids "
    "add an integer zero point so the grid covers [min, max]. Finer granularity (per channel, per group) "
    "means more scales but a tighter fit to each run of weights.";
constexpr std::string_view kFloatText =
    "Minifloat ExMy: a sign, an exponent and a mantissa, so the grid is dense near zero and coarse for large "
    "values (constant relative error) - good for bell-shaped data with outliers. A scale maps the run's "
    "absmax onto the largest finite value; rounding is to nearest even with saturation.";
constexpr std::string_view kMxText =
    "OCP Microscaling (MX v1.0): every block of 32 consecutive values along the reduction dimension shares "
    "one 8-bit power-of-two scale (E8M0) = 2^(floor(log2 absmax) - emax of the element). The elements are "
    "small floats or int8. Power-of-two scales are cheap in hardware but waste up to one binade: the block "
    "maximum may saturate. Costs 8/32 = 0.25 extra bits per element.";
constexpr std::string_view kNvText =
    "NVIDIA two-level scaling: blocks of 16 share an FP8 E4M3 scale, and the whole tensor has an FP32 "
    "scale so that block scales use E4M3's range. The fractional E4M3 scale fits each block more tightly "
    "than MX's power of two, for 8/16 = 0.5 extra bits per element.";
constexpr std::string_view kNf4Text =
    "NormalFloat-4 (QLoRA): 16 code values at quantiles of a standard normal distribution, scaled by the "
    "block's absmax. Information-theoretically good for normally distributed weights; decoding needs a "
    "16-entry look-up table, not arithmetic.";
constexpr std::string_view kLogText =
    "Logarithmic (power-of-two) grid: magnitudes are scale * 2^-j, so multiplication becomes a shift. "
    "Very fine near zero, very coarse near the maximum; suits long-tailed data such as attention "
    "probabilities.";
constexpr std::string_view kSulqText =
    "Shift-uniform-log2 (SULQ, I&S-ViT): shifts the input by a small eta before the log2 transform and "
    "rounds uniformly in the log domain, so the whole range [0, 1] is covered and zero is exact; designed "
    "for post-softmax activations.";
constexpr std::string_view kCastText =
    "A 16-bit float cast (round to nearest even): the usual 'unquantized' baseline. bf16 keeps fp32's "
    "range with 8 mantissa bits; fp16 has 11 mantissa bits but a maximum of 65504.";

// Captions of the number line, per family (placeholders: see FormatTraits::scaleCaption).
constexpr std::string_view kIntCaption = "Ticks: codes × s, s = {s}, the per-tensor fit to this layer's absmax";
constexpr std::string_view kIntAsymCaption =
    "Ticks: s × (code − z), s = {s}, z = {z}, the per-tensor fit to this layer's [min, max]";
constexpr std::string_view kScaledCaption =
    "Ticks: element grid × s, s = {s}, the per-tensor fit to this layer's absmax";
constexpr std::string_view kMxCaption =
    "Ticks: elements × 2^{e} = {s}, the E8M0 scale of the layer's absmax; each block of {block} picks its own";
constexpr std::string_view kNvCaption = "Ticks: elements × {s} (E4M3 block scale × FP32 tensor scale at the layer's "
                                        "absmax); each block of {block} picks its own";
constexpr std::string_view kCastCaption = "{name} stores no scale: every value in the layer's range";

constexpr FormatTraits intRow(FormatId id, std::string_view name, std::string_view summary, int bits) {
    return {id, name, summary, kIntText, kIntCaption, kIntAsymCaption, FormatKind::Integer, bits, 0, true, 16, 0, nullptr, intFit,
            applyOneRun<intApplyRuns>, 1e-6, intApplyRuns, intFitAmaxRuns, intFitRangeRuns};
}
constexpr FormatTraits floatRow(FormatId id, std::string_view name, std::string_view summary, const MiniFloatSpec& e) {
    return {id,    name, summary, kFloatText, kScaledCaption, {}, FormatKind::ScaledFloat, 1 + e.ebits + e.mbits, 0, false, 16, 0, &e,
            scaledFloatFit, applyOneRun<scaledFloatApplyRuns>, 1e-6, scaledFloatApplyRuns, scaledFloatFitAmaxRuns};
}
// Element bits are passed explicitly: no pointer tests in constant expressions (UBSan rejects them).
constexpr FormatTraits mxRow(FormatId id, std::string_view name, std::string_view summary, int bits,
                             const MiniFloatSpec* e) {
    return {id, name, summary, kMxText, kMxCaption, {}, FormatKind::Microscaling, bits, 32, false, 8, 0, e, mxFit, applyOneRun<mxApplyRuns>, 1e-6,
            mxApplyRuns, mxFitAmaxRuns};
}
constexpr FormatTraits nvRow(FormatId id, std::string_view name, std::string_view summary, const MiniFloatSpec* e) {
    return {id, name, summary, kNvText, kNvCaption, {}, FormatKind::TwoLevel, 4, 16, false, 8, 32, e, nvFit, applyOneRun<nvApplyRuns>, 1e-6,
            nvApplyRuns, nvFitAmaxRuns};
}

constexpr std::array kFormats{
    intRow(FormatId::Int2, "int2", "2-bit integer, 4 levels", 2),
    intRow(FormatId::Int3, "int3", "3-bit integer, 8 levels", 3),
    intRow(FormatId::Int4, "int4", "4-bit integer, 16 levels", 4),
    intRow(FormatId::Int5, "int5", "5-bit integer, 32 levels", 5),
    intRow(FormatId::Int6, "int6", "6-bit integer, 64 levels", 6),
    intRow(FormatId::Int7, "int7", "7-bit integer, 128 levels", 7),
    intRow(FormatId::Int8, "int8", "8-bit integer, 256 levels", 8),
    floatRow(FormatId::Fp8E4M3, "fp8_e4m3", "OCP FP8 E4M3 (max 448, no inf), scaled", kE4M3),
    floatRow(FormatId::Fp8E5M2, "fp8_e5m2", "OCP FP8 E5M2 (max 57344, IEEE-like), scaled", kE5M2),
    floatRow(FormatId::Fp6E3M2, "fp6_e3m2", "OCP FP6 E3M2 (max 28), scaled", kE3M2),
    floatRow(FormatId::Fp6E2M3, "fp6_e2m3", "OCP FP6 E2M3 (max 7.5), scaled", kE2M3),
    floatRow(FormatId::Fp4E2M1, "fp4_e2m1", "FP4 E2M1 {0, 0.5, 1, 1.5, 2, 3, 4, 6}, scaled", kE2M1),
    mxRow(FormatId::MxFp8E4M3, "mxfp8_e4m3", "MX block 32, E8M0 scale, FP8 E4M3 elements", 8, &kE4M3),
    mxRow(FormatId::MxFp8E5M2, "mxfp8_e5m2", "MX block 32, E8M0 scale, FP8 E5M2 elements", 8, &kE5M2),
    mxRow(FormatId::MxFp6E3M2, "mxfp6_e3m2", "MX block 32, E8M0 scale, FP6 E3M2 elements", 6, &kE3M2),
    mxRow(FormatId::MxFp6E2M3, "mxfp6_e2m3", "MX block 32, E8M0 scale, FP6 E2M3 elements", 6, &kE2M3),
    mxRow(FormatId::MxFp4, "mxfp4", "MX block 32, E8M0 scale, FP4 E2M1 elements", 4, &kE2M1),
    mxRow(FormatId::MxInt8, "mxint8", "MX block 32, E8M0 scale, int8 elements (implicit 2^-6)", 8, nullptr),
    nvRow(FormatId::NvFp4, "nvfp4", "NVFP4: block 16, E4M3 block scale, FP32 tensor scale, E2M1", &kE2M1),
    nvRow(FormatId::NvInt4, "nvint4", "NVINT4: block 16, E4M3 block scale, FP32 tensor scale, INT4 -7..7", nullptr),
    FormatTraits{FormatId::Nf4, "nf4", "NormalFloat-4 code book (QLoRA), absmax scaled", kNf4Text, kScaledCaption, {},
                 FormatKind::Codebook, 4, 0, false, 16, 0, nullptr, absmaxFit, applyOneRun<nf4ApplyRuns>, 1e-6, nf4ApplyRuns, absmaxFitRuns},
    FormatTraits{FormatId::Log2, "log2", "4-bit power-of-two grid: sign + 3-bit exponent", kLogText, kScaledCaption, {},
                 FormatKind::Logarithmic, 4, 0, false, 16, 0, nullptr, absmaxFit, applyOneRun<log2ApplyRuns>, 1e-5, log2ApplyRuns, absmaxFitRuns},
    FormatTraits{FormatId::Sulq, "sulq", "4-bit shift-uniform-log2 (I&S-ViT)", kSulqText, kScaledCaption, {}, FormatKind::Logarithmic, 4,
                 0, false, 16, 0, nullptr, absmaxFit, applyOneRun<sulqApplyRuns>, 1e-5, sulqApplyRuns, absmaxFitRuns},
    FormatTraits{FormatId::Bf16, "bf16", "bfloat16 cast", kCastText, kCastCaption, {}, FormatKind::Cast, 16, 0, false, 0, 0, &kBf16,
                 castFit, castApply, 0},
    FormatTraits{FormatId::Fp16, "fp16", "IEEE half cast (saturating)", kCastText, kCastCaption, {}, FormatKind::Cast, 16, 0, false, 0,
                 0, &kFp16, castFit, castApply, 0},
};

// The table must stay in id order so formatTraits() can index it.
constexpr bool inIdOrder() {
    for (std::size_t i = 0; i < kFormats.size(); ++i)
        if (static_cast<std::size_t>(kFormats[i].id) != i) return false;
    return true;
}
static_assert(inIdOrder(), "format table rows must be in FormatId order");

} // namespace

std::span<const FormatTraits> formatTable() { return kFormats; }

const FormatTraits& formatTraits(FormatId id) { return kFormats.at(static_cast<std::size_t>(id)); }

const FormatTraits* findFormat(std::string_view name) {
    for (const auto& f : kFormats)
        if (f.name == name) return &f;
    return nullptr;
}

std::vector<float> elementGrid(const FormatTraits& f) {
    std::vector<float> v;
    switch (f.kind) {
    case FormatKind::Integer:
        for (int q = -(1 << (f.elementBits - 1)); q < (1 << (f.elementBits - 1)); ++q) v.push_back(static_cast<float>(q));
        return v;
    case FormatKind::Microscaling:
    case FormatKind::TwoLevel:
        if (!f.element) { // MXINT8: int8 * 2^-6; NVINT4: -7..7
            const int lo = f.kind == FormatKind::Microscaling ? -128 : -7, hi = f.kind == FormatKind::Microscaling ? 127 : 7;
            for (int q = lo; q <= hi; ++q)
                v.push_back(f.kind == FormatKind::Microscaling ? std::ldexp(static_cast<float>(q), -6) : static_cast<float>(q));
            return v;
        }
        return miniFloatValues(*f.element);
    case FormatKind::ScaledFloat: return miniFloatValues(*f.element);
    case FormatKind::Codebook: {
        auto cb = nf4Codebook();
        return {cb.begin(), cb.end()};
    }
    case FormatKind::Logarithmic: {
        std::vector<float> mags;
        if (f.id == FormatId::Sulq) {
            mags = sulqLevels(f.elementBits);
        } else {
            mags.push_back(0.0f);
            for (int j = 0; j <= (1 << (f.elementBits - 1)) - 2; ++j) mags.push_back(std::exp2(-static_cast<float>(j)));
        }
        for (float m : mags) v.push_back(m), v.push_back(-m);
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
        return v;
    }
    case FormatKind::Cast: return {-f.element->maxValue, -f.element->minSubnormal(), 0.0f, f.element->minSubnormal(), f.element->maxValue};
    }
    return v;
}

std::vector<std::vector<float>> smallCodeBooks(std::size_t maxValues) {
    std::vector<std::vector<float>> books;
    for (const FormatTraits& f : formatTable()) {
        // Code books, log grids and minifloat elements (E2M1); not integer grids, held as int codes.
        const bool minifloat = f.element && f.kind != FormatKind::Cast;
        if (f.kind != FormatKind::Codebook && f.kind != FormatKind::Logarithmic && !minifloat) continue;
        std::vector<float> grid = elementGrid(f);
        if (grid.size() <= maxValues && std::find(books.begin(), books.end(), grid) == books.end())
            books.push_back(std::move(grid));
    }
    return books;
}

std::vector<MiniFloatLayout> byteMiniFloatLayouts() {
    std::vector<MiniFloatLayout> layouts;
    for (const FormatTraits& f : formatTable()) {
        if (!f.element || f.kind == FormatKind::Cast) continue;
        const MiniFloatSpec& e = *f.element;
        const MiniFloatLayout layout{static_cast<std::uint8_t>(e.ebits), static_cast<std::uint8_t>(e.mbits),
                                     static_cast<std::uint8_t>(e.bias)};
        const bool listed = std::any_of(layouts.begin(), layouts.end(), [&](const MiniFloatLayout& l) {
            return l.exponent == layout.exponent && l.mantissa == layout.mantissa && l.bias == layout.bias;
        });
        if (layout.bits() >= 5 && layout.bits() <= 8 && !listed) layouts.push_back(layout);
    }
    std::stable_sort(layouts.begin(), layouts.end(), [](const MiniFloatLayout& a, const MiniFloatLayout& b) { return a.bits() < b.bits(); });
    return layouts;
}

} // namespace qs::core
