// SPDX-License-Identifier: MIT
#include "quant/quantizer.h"

#include <algorithm>
#include <vector>

namespace qs::core {

void Quantizer::quantizeColumnBlocks(const WeightMatrix& w, std::int64_t high, const QuantSpec& highSpec,
                                     const QuantSpec& lowSpec, const nlohmann::json& params, float* out,
                                     const JobContext& job) const {
    for (int part = 0; part < 2; ++part) {
        const std::int64_t begin = part == 0 ? 0 : high, count = part == 0 ? high : w.cols - high;
        if (count == 0) continue;
        std::vector<float> in(static_cast<std::size_t>(w.rows * count)), q(in.size());
        for (std::int64_t r = 0; r < w.rows; ++r)
            std::copy_n(w.data + r * w.cols + begin, count, in.begin() + r * count);
        LinearInputStats stats;
        if (w.input) stats = w.input->columns(begin, count);
        quantize({in.data(), w.rows, count, w.name, w.input ? &stats : nullptr},
                 part == 0 ? highSpec : lowSpec, params, q.data(), job);
        for (std::int64_t r = 0; r < w.rows; ++r)
            std::copy_n(q.begin() + r * count, count, out + r * w.cols + begin);
    }
}

} // namespace qs::core
