// SPDX-License-Identifier: MIT
// The report's figures, rendered offscreen with the same drawing code as the views.
#pragma once
#include "analysis/analysis.h"
#include "outlier_stats.h"
#include "pareto_data.h"

#include <QImage>
#include <QString>
#include <nlohmann/json.hpp>
#include <map>
#include <vector>

namespace qs::report {

/// Pixel size of a figure at scale 1 (images are rendered at twice this for print).
inline constexpr int kFigureWidth = 760;
inline constexpr int kFigureHeight = 400;

/// The bits/weight vs perplexity chart of `runs` (a series per method or per format, front, reference),
/// `selected` ringed.
QImage renderPareto(const std::vector<core::RunRecord>& runs, std::int64_t selected,
                    views::ParetoGroup group = views::ParetoGroup::Method);

/// Quality (`y`, a run metric) against hardware cost (`x`, a cost axis of `costs`: views::cyclesAxisKey)
/// of the priced runs, with their front; `selected` ringed.
QImage renderCostPareto(const std::vector<core::RunRecord>& runs, std::int64_t selected, const std::string& x,
                        const std::string& y, const views::RunCosts& costs);

/// One bar of the kurtosis figure.
struct LayerBar {
    QString name;
    double kurtosis = 0;
    std::optional<double> sqnrDb; ///< of the chosen run ("after"), when stored
};
/// Kurtosis per layer as bars, with the chosen run's SQNR per layer as a line on a second axis.
QImage renderKurtosis(const std::vector<LayerBar>& layers, const QString& runLabel);

/// Per-channel magnitudes (`values`, e.g. max |w| per output channel) as bars with the top 8 channels
/// highlighted and median / 95th percentile lines; `what` names a bar ("max |w| per output channel"),
/// `xLabel` the axis.
QImage renderChannels(const std::vector<double>& values, const QString& what, const QString& xLabel);

/// The slices of a landscape analysis's summary (the Landscape view's drawing).
QImage renderLandscapeSlices(const nlohmann::json& summary);

/// A misalignment analysis's candidates, local objective against the change of loss (the Local vs
/// global view's drawing).
QImage renderMisalignment(const nlohmann::json& summary);

/// A predict analysis's training runs, measured against leave-one-out predicted (the Prediction view's drawing).
QImage renderPrediction(const core::AnalysisOutput& output);

/// A spans analysis's per-head spans [layers x heads] out of `ctx` keys (the Attention spans view's drawing).
QImage renderSpans(const Eigen::MatrixXd& spans, int ctx);

} // namespace qs::report
