// SPDX-License-Identifier: MIT
// Exporting a stored run: its recipe applied to its model, checked to be the model the run measured.
#pragma once
#include "export/recipe_export.h"
#include "quant/method_registries.h"
#include "store/project.h"

#include <cstdint>
#include <memory>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace qs::core {

/// A recipe stored as run `runId` of `project`, with its model (checked against the run's content hash,
/// so a recipe is never silently paired with another model). Throws Error naming the project and run.
struct StoredRecipe {
    std::shared_ptr<const Model> model;
    Recipe recipe;
};
StoredRecipe storedRunRecipe(Project& project, std::int64_t runId, const MethodRegistries& registries);



/// Writes run `runId` of `project` (its stored recipe applied to its model) to `out` as `kind`
/// (exportKindNames()), GGUF matrices as `ggufType` (ggufTypeFromName; "" = the recipe's default). The
/// model must be the one the run measured (content hash), so an export never silently pairs a recipe
/// with another model. Returns exportRecipe's JSON plus "run", "model" and the recipe's "label". Throws Error naming the
/// project and run for an unknown run or a changed model.
nlohmann::json exportStoredRun(Project& project, std::int64_t runId, const std::string& kind,
                               const std::string& ggufType, const MethodRegistries& registries,
                               const std::filesystem::path& out, const JobContext& ctx);

} // namespace qs::core
