// SPDX-License-Identifier: MIT
#pragma once
// The attention-span heatmap, drawn by the Attention spans view and the report alike.
#include <Eigen/Core>

class QCustomPlot;
class QString;

namespace qs::views {

/// `spans` [layers x heads] (keys) as a colour map from 0 to `ctx` keys with its colour scale
/// (labelled `scaleLabel`) in the plot's layout; axes: decoder layer, attention head.
void drawSpansHeatmap(QCustomPlot* plot, const Eigen::MatrixXd& spans, int ctx, const QString& scaleLabel);

} // namespace qs::views
