// SPDX-License-Identifier: MIT
#include "quant/dynbits.h"

#include "base/error.h"
#include "formats/format_traits.h"
#include "quant/fake_quant.h"
#include "transform/model_transform.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <queue>
#include <sstream>

namespace qs::core {
namespace {

std::vector<int> parseWidths(const nlohmann::json& params) {
    std::vector<int> widths;
    std::stringstream ss(params.at("widths").get<std::string>());
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        const long w = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end || w < 2 || w > 8)
            throw Error("dynbits: widths: '" + item + "' is not an integer width 2..8 (e.g. 3,4,8)");
        widths.push_back(int(w));
    }
    std::sort(widths.begin(), widths.end());
    widths.erase(std::unique(widths.begin(), widths.end()), widths.end());
    if (widths.empty()) throw Error("dynbits: widths: give at least one width (e.g. 3,4,8)");
    return widths;
}

void checkSpec(const QuantSpec& spec) {
    if (formatTraits(spec.format).kind != FormatKind::Integer || formatTraits(spec.format).fixedBlock)
        throw Error("dynbits: the format must be an INT one (int2..int8): the widths replace its bits");
}

int indexBits(std::size_t options) { return options <= 1 ? 0 : int(std::ceil(std::log2(double(options)))); }

} // namespace

std::vector<int> allocateByRateDistortion(const std::vector<double>& error, const std::vector<double>& cost,
                                          std::size_t options, double budget) {
    const std::size_t groups = options ? error.size() / options : 0;
    const auto pick = [&](double lambda) {
        std::vector<int> choice(groups);
        for (std::size_t g = 0; g < groups; ++g) {
            std::size_t best = 0;
            for (std::size_t w = 1; w < options; ++w) {
                const double a = error[g * options + w] + lambda * cost[g * options + w];
                const double b = error[g * options + best] + lambda * cost[g * options + best];
                if (a < b || (a == b && cost[g * options + w] < cost[g * options + best])) best = w;
            }
            choice[g] = int(best);
        }
        return choice;
    };
    const auto total = [&](const std::vector<int>& c) {
        double s = 0;
        for (std::size_t g = 0; g < groups; ++g) s += cost[g * options + std::size_t(c[g])];
        return s;
    };
    double cheapest = 0;
    for (std::size_t g = 0; g < groups; ++g)
        cheapest += *std::min_element(cost.begin() + std::ptrdiff_t(g * options), cost.begin() + std::ptrdiff_t((g + 1) * options));
    if (cheapest > budget * (1 + 1e-12))
        throw Error("dynbits: the budget (" + std::to_string(budget) + " bits) is below the narrowest width's cost (" +
                    std::to_string(cheapest) + " bits): raise target or add a narrower width");
    std::vector<int> choice = pick(0);
    if (total(choice) > budget) {
        double lo = 0, hi = 1;
        while (total(pick(hi)) > budget) hi *= 2;
        for (int i = 0; i < 100; ++i) { // bisection: the smallest lambda that fits
            const double mid = 0.5 * (lo + hi);
            (total(pick(mid)) > budget ? lo : hi) = mid;
        }
        choice = pick(hi);
    }
    // Spend what is left on the upgrades that save the most error per extra bit.
    double left = budget - total(choice);
    using Move = std::pair<double, std::pair<std::size_t, int>>; // (saved per bit, (group, option))
    const auto best = [&](std::size_t g) -> std::optional<Move> {
        std::optional<Move> m;
        const std::size_t c = std::size_t(choice[g]);
        for (std::size_t w = 0; w < options; ++w) {
            const double extra = cost[g * options + w] - cost[g * options + c];
            const double saved = error[g * options + c] - error[g * options + w];
            if (extra <= 0 || saved <= 0 || extra > left) continue;
            if (!m || saved / extra > m->first) m = Move{saved / extra, {g, int(w)}};
        }
        return m;
    };
    // Best move first (ties: the lower group); a move that no longer fits never will (the budget only shrinks).
    const auto worse = [](const Move& a, const Move& b) {
        return a.first < b.first || (a.first == b.first && a.second.first > b.second.first);
    };
    std::priority_queue<Move, std::vector<Move>, decltype(worse)> queue(worse);
    for (std::size_t g = 0; g < groups; ++g)
        if (const auto m = best(g)) queue.push(*m);
    while (!queue.empty()) {
        const auto [g, w] = queue.top().second;
        queue.pop();
        const auto current = best(g); // the group's best move under what is left now
        if (!current || current->second.second != w) {
            if (current) queue.push(*current);
            continue;
        }
        left -= cost[g * options + std::size_t(w)] - cost[g * options + std::size_t(choice[g])];
        choice[g] = w;
        if (const auto next = best(g)) queue.push(*next);
    }
    return choice;
}

const ParamSchema& DynBitsQuantizer::params() const {
    static const ParamSchema schema{
        {"widths", ParamType::Text, "3,4,8", 0, -1, {}, "INT widths a group may take, comma-separated", "Widths"},
        {"target", ParamType::Float, 4.0, 2.0, 9.0, {},
         "bits per weight the layer stores (codes, zero points, scales and a width index per group)", "Target bits"},
    };
    return schema;
}

double DynBitsQuantizer::bitsPerWeight(const QuantSpec&, const nlohmann::json& params, std::int64_t, std::int64_t) const {
    return params.at("target").get<double>();
}

void DynBitsQuantizer::quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                                const JobContext& job) const {
    checkSpec(spec);
    const std::vector<int> widths = parseWidths(params);
    const std::size_t W = widths.size();
    const std::int64_t len = spec.runLength(w.cols), perRow = (w.cols + len - 1) / len;
    const std::size_t groups = std::size_t(w.rows * perRow), n = std::size_t(w.rows * w.cols);
    // Every width over the whole matrix, then each group's squared error at each width.
    std::vector<std::vector<float>> q(W, std::vector<float>(n));
    for (std::size_t k = 0; k < W; ++k) {
        job.checkCancel();
        fakeQuantize(w.data, w.rows, w.cols, highSpec(spec, widths[k]), q[k].data());
    }
    std::vector<double> error(groups * W), cost(groups * W);
    const auto& traits = formatTraits(highSpec(spec, widths.front()).format);
    const double perGroup = traits.scaleBits + indexBits(W); // the same whatever the width
    for (std::int64_t r = 0; r < w.rows; ++r)
        for (std::int64_t b = 0; b < perRow; ++b) {
            const std::int64_t c0 = b * len, c1 = std::min(w.cols, c0 + len);
            const std::size_t g = std::size_t(r * perRow + b);
            for (std::size_t k = 0; k < W; ++k) {
                double e = 0;
                for (std::int64_t c = c0; c < c1; ++c) {
                    const double d = double(q[k][std::size_t(r * w.cols + c)]) - double(w.data[r * w.cols + c]);
                    e += d * d;
                }
                error[g * W + k] = e;
                cost[g * W + k] = double(widths[k]) * double(c1 - c0) + (spec.symmetric ? 0 : widths[k]);
            }
        }
    const double budget = params.at("target").get<double>() * double(n) - perGroup * double(groups);
    std::vector<int> choice = allocateByRateDistortion(error, cost, W, budget);
    // Never worse than uniform groups at the same bits: the widest single width that fits, if better.
    double dynamic = 0;
    for (std::size_t g = 0; g < groups; ++g) dynamic += error[g * W + std::size_t(choice[g])];
    for (std::size_t k = W; k-- > 0;) {
        double used = 0, err = 0;
        for (std::size_t g = 0; g < groups; ++g) {
            used += cost[g * W + k];
            err += error[g * W + k];
        }
        if (used > budget) continue;
        if (err < dynamic) std::fill(choice.begin(), choice.end(), int(k));
        break;
    }
    for (std::int64_t r = 0; r < w.rows; ++r)
        for (std::int64_t b = 0; b < perRow; ++b) {
            const std::size_t k = std::size_t(choice[std::size_t(r * perRow + b)]);
            for (std::int64_t c = b * len; c < std::min(w.cols, (b + 1) * len); ++c)
                out[r * w.cols + c] = q[k][std::size_t(r * w.cols + c)];
        }
}

} // namespace qs::core
