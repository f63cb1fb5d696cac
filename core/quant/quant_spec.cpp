// SPDX-License-Identifier: MIT
#include "quant/quant_spec.h"

#include "base/error.h"

#include <algorithm>
#include <array>
#include <string>

namespace qs::core {
namespace {
constexpr std::array<std::string_view, 5> kGranularityNames{"tensor", "channel", "group", "block", "token"};
constexpr std::array<std::string_view, 3> kScaleRuleNames{"minmax", "percentile", "mse"};

template <class Enum, std::size_t N> Enum indexOf(const std::array<std::string_view, N>& names, const std::string& s) {
    return static_cast<Enum>(std::find(names.begin(), names.end(), s) - names.begin());
}
}

std::string_view granularityName(Granularity g) { return kGranularityNames[static_cast<std::size_t>(g)]; }

std::int64_t QuantSpec::runLength(std::int64_t cols) const {
    const auto& f = formatTraits(format);
    if (f.fixedBlock) return std::min<std::int64_t>(f.fixedBlock, cols); // MX/NV: always their block
    switch (granularity) {
    case Granularity::Group:
        // A spec built in code skips fromJson's checks; a run of 0 would never advance.
        if (groupSize < 1) throw Error("group size " + std::to_string(groupSize) + " must be at least 1");
        return std::min<std::int64_t>(groupSize, cols);
    case Granularity::Block:
        throw Error("format " + std::string(f.name) + " has no fixed block: use tensor, channel or group");
    default: return cols;
    }
}

double QuantSpec::totalBits(std::int64_t rows, std::int64_t cols) const {
    const auto& f = formatTraits(format);
    const double elements = static_cast<double>(rows) * static_cast<double>(cols);
    if (f.scaleBits == 0) return elements * f.elementBits; // a plain cast stores no scale
    // Asymmetric zero points are stored as k-bit integers (GPTQ packing).
    const double zeroBits = symmetric ? 0 : f.elementBits;
    if (granularity == Granularity::Tensor && !f.fixedBlock) // one fp32 scale
        return elements * f.elementBits + 32 + zeroBits + f.tensorScaleBits;
    const std::int64_t len = runLength(cols);
    const double runs = static_cast<double>(rows) * static_cast<double>((cols + len - 1) / len);
    return elements * f.elementBits + runs * (f.scaleBits + zeroBits) + f.tensorScaleBits;
}

double QuantSpec::bitsPerWeight(std::int64_t rows, std::int64_t cols) const {
    return totalBits(rows, cols) / (static_cast<double>(rows) * static_cast<double>(cols));
}

std::string QuantSpec::label() const {
    std::string s{formatTraits(format).name};
    s += symmetric ? " sym " : " asym ";
    s += granularityName(granularity);
    if (granularity == Granularity::Group) s += " " + std::to_string(groupSize);
    if (granularity == Granularity::Block) s += " " + std::to_string(formatTraits(format).fixedBlock);
    if (scaleRule == ScaleRule::Percentile) s += " p" + std::to_string(percentile).substr(0, 6);
    if (scaleRule == ScaleRule::Mse) s += " mse-clip";
    if (fullRange) s += " full-range";
    return s;
}

nlohmann::json QuantSpec::toJson() const {
    return {{"format", std::string(formatTraits(format).name)},
            {"granularity", std::string(granularityName(granularity))},
            {"group", groupSize},
            {"sym", symmetric},
            {"scale", std::string(kScaleRuleNames[static_cast<std::size_t>(scaleRule)])},
            {"percentile", percentile},
            {"full_range", fullRange}};
}

QuantSpec QuantSpec::fromJson(const nlohmann::json& given) {
    const nlohmann::json j = validateParams(quantSpecSchema(), given, "quantization spec");
    QuantSpec s;
    s.format = findFormat(j.at("format").get<std::string>())->id;
    s.granularity = indexOf<Granularity>(kGranularityNames, j.at("granularity").get<std::string>());
    s.groupSize = j.at("group").get<int>();
    s.symmetric = j.at("sym").get<bool>();
    s.scaleRule = indexOf<ScaleRule>(kScaleRuleNames, j.at("scale").get<std::string>());
    s.percentile = j.at("percentile").get<double>();
    s.fullRange = j.at("full_range").get<bool>();
    const auto& f = formatTraits(s.format);
    if (!s.symmetric && !f.allowsAsymmetric)
        throw Error("format " + std::string(f.name) + " has no zero point: use symmetric quantization (--sym)");
    if (s.fullRange && (f.kind != FormatKind::Integer || !s.symmetric))
        throw Error("full_range applies to symmetric INT formats only, not " + std::string(f.name));
    if (f.fixedBlock != 0) {
        s.granularity = Granularity::Block; // MX/NV formats define their own block
        s.groupSize = f.fixedBlock;
    } else if (s.granularity == Granularity::Block) {
        throw Error("format " + std::string(f.name) + " has no fixed block: use tensor, channel or group");
    }
    return s;
}

QuantSpec normalizedSpec(QuantSpec s) {
    const QuantSpec defaults;
    if (s.granularity != Granularity::Group && s.granularity != Granularity::Block) s.groupSize = 128;
    if (s.scaleRule != ScaleRule::Percentile) s.percentile = defaults.percentile;
    return s;
}

const ParamSchema& quantSpecSchema() {
    static const ParamSchema schema = [] {
        std::vector<std::string> formats;
        for (const auto& f : formatTable()) formats.emplace_back(f.name);
        std::vector<std::string> grans(kGranularityNames.begin(), kGranularityNames.end());
        return ParamSchema{
            {"format", ParamType::Choice, "int4", 1, 0, formats, "number format of the weights", "Format"},
            {"granularity", ParamType::Choice, "group", 1, 0, grans,
             "elements sharing one scale: whole tensor, output channel, group along the input, format block",
             "Granularity"},
            {"group", ParamType::Int, 128, 1, 1 << 20, {}, "group size along the input dimension", "Group size"},
            {"sym", ParamType::Bool, true, 1, 0, {}, "symmetric (no zero point); --asym for a zero point",
             "Symmetric", "asym"},
            {"scale", ParamType::Choice, "minmax", 1, 0, {kScaleRuleNames.begin(), kScaleRuleNames.end()},
             "range the scale covers: min/max, a percentile of the values, or the MSE-optimal clipping",
             "Scale rule"},
            {"percentile", ParamType::Float, 99.9, 50, 100, {}, "percentile for --scale percentile", "Percentile"},
            {"full_range", ParamType::Bool, false, 1, 0, {},
             "INT symmetric: scale = absmax / (2^(k-1) - 0.5) and codes -2^(k-1)..2^(k-1)-1", "Full range"},
        };
    }();
    return schema;
}

} // namespace qs::core
