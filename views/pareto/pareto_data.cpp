// SPDX-License-Identifier: MIT
#include "pareto_data.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
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

std::string cyclesAxisKey(const std::string& costModel) { return "cycles:" + costModel; }
std::string energyAxisKey(const std::string& costModel) { return "energy:" + costModel; }

bool isCostAxis(const std::string& key) { return key.rfind("cycles:", 0) == 0 || key.rfind("energy:", 0) == 0; }

bool higherIsBetter(const std::string& metric) {
    return !isCostAxis(metric) && core::runMetric(metric).higherIsBetter;
}

bool mayBeNonPositive(const std::string& metric) {
    return !isCostAxis(metric) && core::runMetric(metric).mayBeNonPositive;
}

std::string axisTitle(const std::string& metric) {
    if (metric.rfind("cycles:", 0) == 0) return "cycles on " + metric.substr(7) + " / its baseline (1 / speedup)";
    if (metric.rfind("energy:", 0) == 0)
        return "energy on " + metric.substr(7) + " / its baseline (1 / energy efficiency)";
    return std::string(core::runMetric(metric).label);
}

std::optional<double> axisValue(const core::RunRecord& run, const std::string& metric, const RunCosts& costs) {
    if (isCostAxis(metric)) {
        const auto model = costs.find(metric);
        if (model == costs.end()) return std::nullopt;
        const auto v = model->second.find(run.id);
        return v == model->second.end() ? std::nullopt : std::optional<double>(v->second);
    }
    const core::RunMetric& m = core::runMetric(metric);
    const auto v = core::metricValue(m, run.metrics);
    // Plotted in the unit the metric is read in (sizes in MB, not bytes).
    if (v && m.display == core::MetricDisplay::Megabytes) return *v / 1e6;
    return v;
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

std::map<std::int64_t, std::string> planSolvers(const std::vector<core::PlanRecord>& plans) {
    std::map<std::int64_t, std::set<std::string>> byRun;
    for (const auto& p : plans) byRun[p.runId].insert(p.method);
    std::map<std::int64_t, std::string> out;
    for (const auto& [run, methods] : byRun) {
        std::string s;
        for (const auto& m : methods) s += (s.empty() ? "" : "+") + m;
        out[run] = s;
    }
    return out;
}

ParetoData buildParetoData(const std::vector<core::RunRecord>& runs, const std::string& x, const std::string& y,
                           ParetoGroup group, const std::map<std::int64_t, std::string>& plans, const RunCosts& costs) {
    const core::RunMetric& yMetric = core::runMetric(y);
    ParetoData data;
    std::map<std::string, ParetoSeries> byName;
    std::vector<ParetoPoint> all;
    for (const auto& run : runs) {
        if (run.status != "finished") continue;
        if (isReferenceRun(run)) {
            data.referenceRunId = run.id;
            // The reference's own y (its perplexity), or the metric's fixed one (0 for deltas and KLD,
            // 1 for top-1 agreement).
            data.referenceY = yMetric.referenceValue ? yMetric.referenceValue : axisValue(run, y);
            continue;
        }
        const auto xv = axisValue(run, x, costs);
        const auto yv = axisValue(run, y, costs);
        if (!xv || !yv || std::isnan(*xv) || std::isnan(*yv)) {
            ++data.skipped;
            continue;
        }
        ParetoPoint p{run.id, *xv, *yv, run.recipeLabel,
                      group == ParetoGroup::Method ? recipeMethod(run) : recipeFormat(run)};
        if (const auto plan = plans.find(run.id); plan != plans.end()) {
            p.label = "plan: " + plan->second; // a mixed plan's recipe label lists every rule
            if (group == ParetoGroup::Method) p.group = p.label;
        }
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
    const ParetoData d = buildParetoData(runs, "bits_per_weight", "perplexity", ParetoGroup::Method);
    if (d.front.empty()) return 0;
    if (d.referenceY) {
        // The front is ordered by increasing bits: the first within tolerance has the fewest.
        for (const auto& p : d.front)
            if (p.y <= *d.referenceY * (1.0 + tolerance)) return p.runId;
    }
    return d.front.back().runId; // the most bits on the front = the lowest perplexity
}

std::optional<double> predictedOnAxis(double deltaLogPerplexity, const std::string& y, double fp32Perplexity) {
    if (y == "perplexity") return fp32Perplexity * std::exp(deltaLogPerplexity);
    if (y == "delta_perplexity") return fp32Perplexity * std::expm1(deltaLogPerplexity);
    return std::nullopt;
}

std::string addPlanPreview(ParetoData& data, const std::string& name,
                           const std::vector<std::pair<double, double>>& frontier,
                           const std::optional<std::pair<double, double>>& current, const std::string& x,
                           const std::string& y, std::optional<double> fp32Perplexity) {
    if (x != "bits_per_weight" || !predictedOnAxis(0, y, 1))
        return "the plan being chosen is drawn on bits / weight against perplexity or Δ perplexity";
    if (!fp32Perplexity || !(*fp32Perplexity > 0))
        return "the plan being chosen is drawn once the project has an fp32 reference run (evaluate a plan)";
    ParetoPreview p;
    p.name = name;
    for (const auto& [bits, d] : frontier) p.frontier.emplace_back(bits, *predictedOnAxis(d, y, *fp32Perplexity));
    if (current) p.current = std::pair{current->first, *predictedOnAxis(current->second, y, *fp32Perplexity)};
    data.preview = std::move(p);
    return {};
}

} // namespace qs::views
