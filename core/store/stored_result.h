// SPDX-License-Identifier: MIT
// A stored run's per-layer results as the result of a quantization, so the views that show the current
// result (layer table, histograms, the status bar) can show any run of a project.
#pragma once
#include "quant/model_quantizer.h"
#include "quant/method_registries.h"
#include "store/project.h"

#include <cstdint>

namespace qs::core {

/// The ModelQuantResult of stored run `runId`: its recipe (job), per-layer rows (bits, MSE, SQNR, max
/// error; each layer's assignment from the recipe's rules), bits per weight over the quantized layers and
/// over the whole model (from the stored model size and parameter count). No weights. The fp32
/// reference gives an empty result. Throws Error for an unknown run or a recipe that no longer parses.
ModelQuantResult storedQuantResult(Project& project, std::int64_t runId, const MethodRegistries& registries);

} // namespace qs::core
