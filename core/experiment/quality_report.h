// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/builtins.h"
#include "quant/model_quantizer.h"
#include "eval/perplexity.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

/// One recipe's quality on evaluation data, beside the fp32 model.
struct RecipeQuality {
    QuantJob job;
    double bitsPerWeight = 0;
    ComparisonResult comparison;
};

/// Quantizes `model` with each job and measures perplexity, KL divergence and top-1 agreement against
/// the unquantized model on `tokens` (fp32 weights are converted once and shared).
std::vector<RecipeQuality> compareRecipes(const Model& model, const Registries& registries,
                                          std::span<const std::int32_t> tokens, const EvalOptions& opts,
                                          const std::vector<QuantJob>& jobs, const JobContext& ctx);

/// The comparison as terminal text, one row per recipe, with the fp32 perplexity first.
std::string formatRecipeQuality(const std::vector<RecipeQuality>& rows);

} // namespace qs::core
