// SPDX-License-Identifier: MIT
#include "calib/collect_stats.h"

#include "statistics/stats_accumulator.h"

#include <optional>

namespace qs::core {

namespace {

// One layer's site statistics over windows 0..n-1 in order; run(k, observer) runs window k through it.
template <class Run>
std::vector<LinearInputStats> layerStats(const CausalLm& lm, int layer, std::size_t n, bool withGram,
                                         const JobContext& job, Run&& run) {
    const auto sites = lm.layerSites(layer);
    // One accumulator per site, created at the first window (feature counts come from the data).
    std::vector<std::optional<LinearStatsAccumulator>> acc(sites.size());
    const LinearInputObserver observer = [&](int, const LinearInputSite& site, const RowMatrixF& x) {
        for (std::size_t s = 0; s < sites.size(); ++s)
            if (sites[s].name == site.name) {
                if (!acc[s]) acc[s].emplace(site.name, x.cols(), withGram);
                acc[s]->add(x);
            }
    };
    for (std::size_t k = 0; k < n; ++k) {
        job.checkCancel();
        run(k, observer);
    }
    std::vector<LinearInputStats> out;
    for (const auto& a : acc)
        if (a) out.push_back(a->result());
    return out;
}

} // namespace

std::vector<LinearInputStats> collectLayerStats(const CausalLm& lm, int layer, const std::vector<RowMatrixF>& inputs,
                                                bool withGram, const JobContext& job) {
    return layerStats(lm, layer, inputs.size(), withGram, job, [&](std::size_t k, const LinearInputObserver& observer) {
        RowMatrixF x = inputs[k];
        lm.runLayer(layer, x, &observer);
    });
}

std::vector<LinearInputStats> advanceLayerStats(const CausalLm& lm, int layer, std::vector<RowMatrixF>& stream,
                                                bool withGram, const JobContext& job) {
    return layerStats(lm, layer, stream.size(), withGram, job, [&](std::size_t k, const LinearInputObserver& observer) {
        lm.runLayer(layer, stream[k], &observer);
    });
}

std::vector<LinearInputStats> collectModelStats(const CausalLm& lm, const CalibrationData& data, bool withGram,
                                                const JobContext& job) {
    std::vector<std::vector<LinearInputSite>> sites;
    std::vector<std::size_t> offset; // index of each layer's first site
    std::size_t total = 0;
    for (int l = 0; l < lm.numLayers(); ++l) {
        sites.push_back(lm.layerSites(l));
        offset.push_back(total);
        total += sites.back().size();
    }
    std::vector<std::optional<LinearStatsAccumulator>> acc(total);
    const LinearInputObserver observer = [&](int layer, const LinearInputSite& site, const RowMatrixF& x) {
        const auto& ls = sites[static_cast<std::size_t>(layer)];
        for (std::size_t s = 0; s < ls.size(); ++s)
            if (ls[s].name == site.name) {
                auto& a = acc[offset[static_cast<std::size_t>(layer)] + s];
                if (!a) a.emplace(site.name, x.cols(), withGram);
                a->add(x);
            }
    };
    const auto n = static_cast<long long>(data.windows.size());
    for (long long w = 0; w < n; ++w) {
        job.step(w, n, "calibration window " + std::to_string(w + 1) + "/" + std::to_string(n));
        RowMatrixF x = lm.embed(data.windows[static_cast<std::size_t>(w)]);
        for (int l = 0; l < lm.numLayers(); ++l) lm.runLayer(l, x, &observer);
    }
    job.step(n, n, "calibration statistics done");
    std::vector<LinearInputStats> out;
    for (const auto& a : acc)
        if (a) out.push_back(a->result());
    return out;
}

} // namespace qs::core
