// SPDX-License-Identifier: MIT
#include "transform/mixed_quant.h"

#include <algorithm>

namespace qs::core {

LinearInputStats sliceStats(const LinearInputStats& s, std::int64_t begin, std::int64_t count) {
    LinearInputStats r;
    r.site = s.site;
    r.features = count;
    r.samples = s.samples;
    if (s.xtx.size() > 0) r.xtx = s.xtx.block(begin, begin, count, count);
    auto part = [&](const std::vector<double>& v) {
        return v.empty() ? v : std::vector<double>(v.begin() + begin, v.begin() + begin + count);
    };
    r.absMax = part(s.absMax);
    r.absMean = part(s.absMean);
    r.mean = part(s.mean);
    r.variance = part(s.variance);
    r.kurtosis = part(s.kurtosis);
    return r;
}

double quantizeMixedColumns(const Quantizer& method, const WeightMatrix& w, std::int64_t high, const QuantSpec& highSpec,
                            const QuantSpec& lowSpec, const nlohmann::json& params, float* out, const JobContext& job) {
    high = std::clamp<std::int64_t>(high, 0, w.cols);
    double bits = 0;
    for (int part = 0; part < 2; ++part) {
        const std::int64_t begin = part == 0 ? 0 : high, count = part == 0 ? high : w.cols - high;
        if (count == 0) continue;
        const QuantSpec& spec = part == 0 ? highSpec : lowSpec;
        std::vector<float> in(static_cast<std::size_t>(w.rows * count)), q(in.size());
        for (std::int64_t r = 0; r < w.rows; ++r)
            std::copy_n(w.data + r * w.cols + begin, count, in.begin() + r * count);
        LinearInputStats stats;
        if (w.input) stats = sliceStats(*w.input, begin, count);
        method.quantize({in.data(), w.rows, count, w.name, w.input ? &stats : nullptr}, spec, params, q.data(), job);
        for (std::int64_t r = 0; r < w.rows; ++r) std::copy_n(q.begin() + r * count, count, out + r * w.cols + begin);
        bits += method.bitsPerWeight(spec, params, w.rows, count) * static_cast<double>(w.rows * count);
    }
    return bits / static_cast<double>(w.rows * w.cols);
}

} // namespace qs::core
