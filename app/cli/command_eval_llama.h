// SPDX-License-Identifier: MIT
#pragma once
#include "commands.h"
#include "data/windows.h"
#include "quant/recipe.h"

#include <optional>
#include <string>

namespace qs::cli {

/// `eval MODEL --kl-divergence-base FILE --kld [quantization flags]`: the model against
/// llama-perplexity's saved log-probabilities, with llama.cpp's statistics ("llama_kld" in the JSON).
nlohmann::json evalAgainstLlamaLogits(const std::string& modelPath, const std::string& baseFile,
                                      const core::Recipe& recipe, const core::EvalOptions& opts,
                                      const std::optional<std::string>& calibFile, long long calibWindows,
                                      CliContext& ctx);

} // namespace qs::cli
