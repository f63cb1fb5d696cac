// SPDX-License-Identifier: MIT
#include "common/number_line.h"

#include "formats/minifloat.h"
#include "quant/fake_quant.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace qs::views {

NumberLine numberLine(const core::QuantSpec& spec, const float* x, std::size_t n, std::size_t maxTicks) {
    const core::FormatTraits& f = core::formatTraits(spec.format);
    NumberLine line;
    line.range = core::rangeOf(x, n);
    if (f.kind == core::FormatKind::Cast) {
        line.params = {1.0f, 0.0f};
        std::vector<double> inRange;
        for (const float v : core::miniFloatValues(*f.element))
            if (v >= line.range.min && v <= line.range.max) inRange.push_back(v);
        line.valuesInRange = static_cast<std::int64_t>(inRange.size());
        line.tooDense = inRange.size() > maxTicks;
        if (!line.tooDense) line.values = std::move(inRange);
        return line;
    }
    std::vector<float> scratch(spec.scaleRule == core::ScaleRule::MinMax ? 0 : n);
    line.params = core::fitRun(f, spec, x, n, line.range, scratch.data());
    const double scale = line.params.scale;
    // Asymmetric integers store codes 0..2^k-1; elementGrid lists them shifted by -2^(k-1).
    const double shift =
        f.kind == core::FormatKind::Integer && !spec.symmetric ? std::ldexp(1.0, f.elementBits - 1) : 0.0;
    for (const float g : core::elementGrid(f))
        line.values.push_back(scale * (static_cast<double>(g) + shift - line.params.zero));
    std::sort(line.values.begin(), line.values.end());
    for (const double v : line.values)
        if (v >= line.range.min && v <= line.range.max) ++line.valuesInRange;
    return line;
}

std::vector<double> magnitudes(const std::vector<double>& values) {
    std::set<double> mags;
    for (const double v : values)
        if (v != 0) mags.insert(std::fabs(v));
    return {mags.begin(), mags.end()};
}

core::QuantSpec withFormat(const core::QuantSpec& spec, const core::FormatTraits& f) {
    nlohmann::json j = spec.toJson();
    j["format"] = std::string(f.name);
    if (!f.allowsAsymmetric) j["sym"] = true;
    if (f.fixedBlock)
        j["granularity"] = "block";
    else if (spec.granularity == core::Granularity::Block || spec.granularity == core::Granularity::Token)
        j["granularity"] = "group";
    if (f.kind != core::FormatKind::Integer || !j["sym"].get<bool>()) j["full_range"] = false;
    try {
        return core::QuantSpec::fromJson(j);
    } catch (const std::exception&) {
        core::QuantSpec fallback;
        fallback.format = f.id;
        fallback.groupSize = f.fixedBlock ? f.fixedBlock : spec.groupSize;
        fallback.granularity = f.fixedBlock ? core::Granularity::Block : core::Granularity::Group;
        return fallback;
    }
}

} // namespace qs::views
