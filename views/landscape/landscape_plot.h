// SPDX-License-Identifier: MIT
#pragma once
// The landscape's slice curves, drawn by the Landscape view and the report alike.
#include <nlohmann/json.hpp>

class QCustomPlot;

namespace qs::views {

/// One curve per direction of a landscape analysis's `summary` (loss against t), the quantized
/// model's point (t = 1 of a recipe's direction) as a star, and the axes' ranges. Adds to `plot`.
void drawLandscapeSlices(QCustomPlot* plot, const nlohmann::json& summary);

} // namespace qs::views
