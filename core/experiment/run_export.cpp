// SPDX-License-Identifier: MIT
#include "experiment/run_export.h"

#include "base/error.h"
#include "model/model.h"

namespace qs::core {

StoredRecipe storedRunRecipe(Project& project, std::int64_t runId, const MethodRegistries& registries) {
    const auto run = project.run(runId);
    if (!run) throw Error(project.path().string() + ": no run with id " + std::to_string(runId));
    const std::string owner = project.path().string() + " run " + std::to_string(runId);
    StoredRecipe s{nullptr, recipeFromJson(nlohmann::json::parse(run->recipe), registries, owner)};
    const auto stored = project.model(run->modelId);
    if (contentHash(stored.path) != stored.hash)
        throw Error(stored.path + ": the model changed since run " + std::to_string(runId) + " was made (content hash differs)");
    s.model = openModel(stored.path);
    return s;
}

nlohmann::json exportStoredRun(Project& project, std::int64_t runId, const std::string& kind,
                               const std::string& ggufType, const MethodRegistries& registries,
                               const std::filesystem::path& out, const JobContext& ctx) {
    const StoredRecipe stored = storedRunRecipe(project, runId, registries);
    const Recipe& recipe = stored.recipe;
    const Model& model = *stored.model;
    ExportOptions options;
    options.kind = parseExportKind(kind);
    options.ggufType = ggufTypeFromName(ggufType, recipe);
    nlohmann::json j = exportRecipe(model, recipe, registries, out, options, ctx);
    j["run"] = runId;
    j["model"] = model.path().string();
    j["label"] = recipe.label();
    return j;
}

} // namespace qs::core
