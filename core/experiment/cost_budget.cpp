// SPDX-License-Identifier: MIT
#include "experiment/cost_budget.h"

#include "base/error.h"
#include "cost/layer_capture.h"
#include "cost/value_codes.h"
#include "quant/fake_quant.h"

#include <map>

namespace qs::core {

GroupCosts groupCosts(const Model& model, const SensitivityResult& r, const std::vector<CandidateFormat>& candidates,
                      const CostBudget& budget, const CalibrationData& data, const Registries& registries,
                      const JobContext& job) {
    const CostModel& cost = registries.costModels.get(budget.model, "cost model");
    if (budget.metric != "cycles" && budget.metric != "energy")
        throw Error("cost budget: unknown metric '" + budget.metric + "' (known: cycles, energy)");
    const nlohmann::json params = validateParams(cost.params(), budget.params, "cost " + budget.model);
    CaptureOptions options;
    options.nativeBits = budget.nativeBits;
    options.weights = false; // each candidate's codes are made below
    options.activations = cost.needsActivations();
    std::map<std::string, CostLayer> layers; // weight name -> its layer with the captured activations
    captureLanguageModel(model, Recipe{}, nullptr, nullptr, data, options,
                         [&](CostLayer&& l) { layers.emplace(l.name + ".weight", std::move(l)); }, job);

    GroupCosts out(r.groups.size(), std::vector<double>(candidates.size(), 0.0));
    for (std::size_t g = 0; g < r.groups.size(); ++g)
        for (const std::string& name : r.groups[g].weights) {
            job.checkCancel();
            const auto it = layers.find(name);
            const WeightInfo* info = model.find(name);
            if (it == layers.end() || !info) throw Error("cost budget: weight '" + name + "' was not captured");
            CostLayer& layer = it->second;
            const std::vector<float> w = model.weightAsOutIn(*info);
            for (std::size_t c = 0; c < candidates.size(); ++c) {
                if (candidates[c].keep) {
                    layer.weights = linearCodes(w.data(), w.size(), budget.nativeBits);
                    layer.weightStoredBits = 8.0 * static_cast<double>(dtypeSize(info->dtype));
                } else {
                    const QuantSpec& spec = candidates[c].job.spec;
                    std::vector<float> q(w.size());
                    fakeQuantize(w.data(), layer.F, layer.C, spec, q.data());
                    layer.weights = gridCodes(q.data(), layer.F, layer.C, spec);
                    layer.weightStoredBits = r.bitsPerWeight[g][c];
                }
                const LayerCost lc = cost.layer(layer, params);
                out[g][c] += budget.metric == "energy" ? lc.energy : lc.cycles;
            }
        }
    return out;
}

} // namespace qs::core
