// SPDX-License-Identifier: MIT
#include "analysis/format_comparison.h"

#include "formats/minifloat.h"
#include "quant/fake_quant.h"

#include <algorithm>
#include <cmath>

namespace qs::core {

nlohmann::json FormatTrial::toJson() const {
    nlohmann::json j = spec.toJson();
    j["label"] = spec.label();
    j["bits_per_element"] = bitsPerElement;
    j["mse"] = error.mse;
    j["sqnr_db"] = error.sqnrDb;
    j["max_abs_error"] = error.maxAbs;
    return j;
}

std::vector<FormatTrial> compareFormats(const float* x, std::int64_t rows, std::int64_t cols, int groupSize,
                                        const JobContext& job) {
    std::vector<QuantSpec> specs;
    for (const auto& f : formatTable()) {
        if (f.fixedBlock || f.kind == FormatKind::Cast) {
            specs.push_back({f.id, f.fixedBlock ? Granularity::Block : Granularity::Tensor, groupSize, true});
            continue;
        }
        for (Granularity g : {Granularity::Tensor, Granularity::Channel, Granularity::Group})
            for (bool sym : {true, false})
                if (sym || f.allowsAsymmetric) specs.push_back({f.id, g, groupSize, sym});
    }
    std::vector<FormatTrial> trials;
    std::vector<float> out(static_cast<std::size_t>(rows * cols));
    for (std::size_t i = 0; i < specs.size(); ++i) {
        job.step(static_cast<long long>(i), static_cast<long long>(specs.size()), specs[i].label());
        fakeQuantize(x, rows, cols, specs[i], out.data());
        trials.push_back({specs[i], specs[i].bitsPerWeight(rows, cols), computeError(x, out.data(), rows * cols)});
    }
    std::stable_sort(trials.begin(), trials.end(), [](const FormatTrial& a, const FormatTrial& b) {
        return a.bitsPerElement != b.bitsPerElement ? a.bitsPerElement < b.bitsPerElement : a.error.mse < b.error.mse;
    });
    return trials;
}

nlohmann::json FormatFacts::toJson() const {
    return {{"max", maxMagnitude},
            {"min_positive", minPositive},
            {"dynamic_range_db", dynamicRangeDb},
            {"distinct_values", distinctValues},
            {"bits_per_element", bitsPerElement}};
}

FormatFacts formatFacts(const FormatTraits& f) {
    FormatFacts facts;
    const std::vector<float> grid = f.kind == FormatKind::Cast ? miniFloatValues(*f.element) : elementGrid(f);
    facts.distinctValues = static_cast<std::int64_t>(grid.size());
    double minPos = 0;
    for (float v : grid) {
        facts.maxMagnitude = std::max<double>(facts.maxMagnitude, std::fabs(v));
        if (v > 0 && (minPos == 0 || v < minPos)) minPos = v;
    }
    facts.minPositive = minPos;
    facts.dynamicRangeDb = minPos > 0 ? 20.0 * std::log10(facts.maxMagnitude / minPos) : 0;
    facts.bitsPerElement = f.elementBits + (f.fixedBlock ? static_cast<double>(f.scaleBits) / f.fixedBlock : 0.0);
    return facts;
}

} // namespace qs::core
