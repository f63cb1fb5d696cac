// SPDX-License-Identifier: MIT
#include "store/stored_result.h"

#include "base/error.h"
#include "quant/recipe.h"

#include <limits>

namespace qs::core {

ModelQuantResult storedQuantResult(Project& project, std::int64_t runId, const MethodRegistries& registries) {
    const auto run = project.run(runId);
    if (!run) throw Error(project.path().string() + ": no run with id " + std::to_string(runId));
    const Recipe recipe = recipeFromJson(nlohmann::json::parse(run->recipe, nullptr, false), registries,
                                         project.path().string() + " run " + std::to_string(runId));
    ModelQuantResult r;
    r.job = recipe.job;
    r.bitsPerWeight = run->metrics.bitsPerWeight.value_or(0);
    // The whole model's bits (kept and unquantizable tensors at their stored width) from its stored size.
    r.totalParams = project.model(run->modelId).parameters;
    if (run->metrics.modelBytes && r.totalParams > 0)
        r.modelBitsPerWeight = *run->metrics.modelBytes * 8.0 / static_cast<double>(r.totalParams);
    for (const auto& l : project.layers(runId)) {
        LayerQuantResult q;
        q.name = l.name;
        q.rows = l.rows;
        q.cols = l.cols;
        q.bitsPerWeight = l.bitsPerWeight;
        q.error.mse = l.mse;
        q.error.sqnrDb = l.sqnrDb.value_or(std::numeric_limits<double>::infinity()); // exact layer
        q.error.maxAbs = l.maxAbsError;
        const WeightAssignment a = recipe.job.assignmentFor(l.name);
        q.assignment = a.label();
        q.kept = a.keep;
        r.quantizedParams += l.rows * l.cols;
        if (a.keep) r.keptParams += l.rows * l.cols;
        r.layers.push_back(std::move(q));
    }
    return r;
}

} // namespace qs::core
