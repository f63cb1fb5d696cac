// SPDX-License-Identifier: MIT
#pragma once
#include "quant/model_quantizer.h"

#include <string>
#include <vector>

namespace qs::core {

/// The layer table as aligned terminal text (what the GUI's layer table shows).
std::string formatLayerTable(const Model& model, const std::vector<LayerReport>& layers);

/// Per-layer quantization error and the model's bits per weight as terminal text.
std::string formatQuantResult(const ModelQuantResult& result);

} // namespace qs::core
