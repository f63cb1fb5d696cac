// SPDX-License-Identifier: MIT
#pragma once
// The Prediction view's charts, drawn by the view and the report alike.
#include "analysis/analysis.h"

class QCustomPlot;

namespace qs::views {

/// A stored figure, NaN when absent or not a number (JSON has no NaN: it stores null).
double storedNumber(const nlohmann::json& j, const char* key);

/// Each training run's measured quality ("target") against its leave-one-out prediction
/// ("loo_predicted") from a predict analysis's rows, with y = x dashed; square ranges.
void drawPredictionScatter(QCustomPlot* plot, const core::AnalysisOutput& output);

/// The forest's permutation importances of a predict analysis's summary, the `shown` largest, as bars.
void drawImportances(QCustomPlot* plot, const nlohmann::json& summary, std::size_t shown = 12);

} // namespace qs::views
