// SPDX-License-Identifier: MIT
#include "experiment/run_export.h"

#include "base/error.h"
#include "model/model.h"

namespace qs::core {

nlohmann::json exportStoredRun(Project& project, std::int64_t runId, const std::string& kind,
                               const std::string& ggufType, const MethodRegistries& registries,
                               const std::filesystem::path& out, const JobContext& ctx) {
    const std::string owner = project.path().string() + " run " + std::to_string(runId);
    const auto run = project.run(runId);
    if (!run) throw Error(project.path().string() + ": no run with id " + std::to_string(runId));
    ExportOptions options;
    options.kind = parseExportKind(kind);
    const Recipe recipe = recipeFromJson(nlohmann::json::parse(run->recipe), registries, owner);
    options.ggufType = ggufTypeFromName(ggufType, recipe);
    const auto stored = project.model(run->modelId);
    if (contentHash(stored.path) != stored.hash)
        throw Error(stored.path + ": the model changed since run " + std::to_string(runId) +
                    " was made (content hash differs)");
    const auto model = openModel(stored.path);
    nlohmann::json j = exportRecipe(*model, recipe, registries, out, options, ctx);
    j["run"] = runId;
    j["model"] = model->path().string();
    j["label"] = recipe.label();
    return j;
}

} // namespace qs::core
