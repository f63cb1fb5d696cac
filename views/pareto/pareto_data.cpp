// SPDX-License-Identifier: MIT
#include "pareto_data.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

namespace qs::views {

namespace {

std::string recipeKey(const core::RunRecord& run, const char* key) {
    if (isReferenceRun(run)) return "fp32";
    const auto j = nlohmann::json::parse(run.recipe, nullptr, false);
    if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
    return "?";
}

} // namespace

bool higherIsBetter(ParetoY y) {
    return y == ParetoY::Top1 || y == ParetoY::Accuracy;
}

bool mayBeNonPositive(ParetoY y) {
    return y == ParetoY::DeltaPerplexity || y == ParetoY::Kld;
}

std::string axisTitle(ParetoX x) {
    return x == ParetoX::BitsPerWeight ? "bits / weight" : "model size (MB)";
}

std::string axisTitle(ParetoY y) {
    switch (y) {
    case ParetoY::Perplexity: return "perplexity";
    case ParetoY::DeltaPerplexity: return "Δ perplexity vs fp32";
    case ParetoY::Kld: return "KL divergence to fp32 (mean, nats)";
    case ParetoY::Top1: return "top-1 agreement with fp32";
    case ParetoY::Accuracy: return "accuracy";
    }
    return {};
}

std::optional<double> xValue(const core::RunRecord& run, ParetoX x) {
    if (x == ParetoX::BitsPerWeight) return run.metrics.bitsPerWeight;
    if (run.metrics.modelBytes) return *run.metrics.modelBytes / 1e6;
    return std::nullopt;
}

std::optional<double> yValue(const core::RunRecord& run, ParetoY y) {
    const auto& m = run.metrics;
    switch (y) {
    case ParetoY::Perplexity: return m.perplexity;
    case ParetoY::DeltaPerplexity:
        if (m.perplexity && m.referencePerplexity) return *m.perplexity - *m.referencePerplexity;
        return std::nullopt;
    case ParetoY::Kld: return m.kldMean;
    case ParetoY::Top1: return m.top1Agreement;
    case ParetoY::Accuracy: return m.accuracy;
    }
    return std::nullopt;
}

bool isReferenceRun(const core::RunRecord& run) {
    return run.recipe.empty() || run.recipe == "{}";
}

std::string recipeMethod(const core::RunRecord& run) {
    return recipeKey(run, "method");
}

std::string recipeFormat(const core::RunRecord& run) {
    return recipeKey(run, "format");
}

std::vector<std::size_t> paretoFrontIndices(const std::vector<std::pair<double, double>>& xy, bool yHigherBetter) {
    // Work with "smaller is better" on both axes.
    const auto cost = [&](std::size_t i) { return yHigherBetter ? -xy[i].second : xy[i].second; };
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < xy.size(); ++i)
        if (!std::isnan(xy[i].first) && !std::isnan(xy[i].second)) order.push_back(i);
    // By x, then best y first, so a sweep in this order sees every point's dominators before it.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (xy[a].first != xy[b].first) return xy[a].first < xy[b].first;
        return cost(a) < cost(b);
    });
    std::vector<std::size_t> front;
    for (const std::size_t i : order) {
        if (front.empty() || cost(i) < cost(front.back())) {
            front.push_back(i);
        } else if (cost(i) == cost(front.back()) && xy[i].first == xy[front.back()].first) {
            front.push_back(i); // an exact duplicate of a front point is not dominated either
        }
    }
    return front;
}

ParetoData buildParetoData(const std::vector<core::RunRecord>& runs, ParetoX x, ParetoY y, ParetoGroup group) {
    ParetoData data;
    std::map<std::string, ParetoSeries> byName;
    std::vector<ParetoPoint> all;
    for (const auto& run : runs) {
        if (run.status != "finished") continue;
        if (isReferenceRun(run)) {
            data.referenceRunId = run.id;
            // The reference's own y: its perplexity, 0 for deltas and KLD, 1 for top-1 agreement.
            switch (y) {
            case ParetoY::Perplexity: data.referenceY = run.metrics.perplexity; break;
            case ParetoY::DeltaPerplexity:
            case ParetoY::Kld: data.referenceY = 0.0; break;
            case ParetoY::Top1: data.referenceY = 1.0; break;
            case ParetoY::Accuracy: data.referenceY = run.metrics.accuracy; break;
            }
            continue;
        }
        const auto xv = xValue(run, x);
        const auto yv = yValue(run, y);
        if (!xv || !yv || std::isnan(*xv) || std::isnan(*yv)) {
            ++data.skipped;
            continue;
        }
        ParetoPoint p{run.id, *xv, *yv, run.recipeLabel,
                      group == ParetoGroup::Method ? recipeMethod(run) : recipeFormat(run)};
        auto& s = byName[p.group];
        s.name = p.group;
        s.points.push_back(p);
        all.push_back(std::move(p));
    }
    for (auto& [name, s] : byName)
        data.series.push_back(std::move(s));
    std::vector<std::pair<double, double>> xy;
    for (const auto& p : all)
        xy.emplace_back(p.x, p.y);
    for (const std::size_t i : paretoFrontIndices(xy, higherIsBetter(y)))
        data.front.push_back(all[i]);
    return data;
}

std::int64_t defaultReportRun(const std::vector<core::RunRecord>& runs, double tolerance) {
    const ParetoData d = buildParetoData(runs, ParetoX::BitsPerWeight, ParetoY::Perplexity, ParetoGroup::Method);
    if (d.front.empty()) return 0;
    if (d.referenceY) {
        // The front is ordered by increasing bits: the first within tolerance has the fewest.
        for (const auto& p : d.front)
            if (p.y <= *d.referenceY * (1.0 + tolerance)) return p.runId;
    }
    return d.front.back().runId; // the most bits on the front = the lowest perplexity
}

} // namespace qs::views
