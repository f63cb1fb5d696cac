// SPDX-License-Identifier: MIT
#pragma once
// The misalignment scatter, drawn by the Local vs global view and the report alike.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

class QCustomPlot;

namespace qs::views {

/// The formats of a misalignment `summary` in the order measured.
std::vector<std::string> misalignmentFormats(const nlohmann::json& summary);

/// Every candidate of a misalignment analysis's `summary`: its local objective (log axis) against
/// `global` ("delta_loss" or "kld"), one colour per format, legend top left, ranges with a margin.
void drawMisalignment(QCustomPlot* plot, const nlohmann::json& summary, const std::string& global);

} // namespace qs::views
