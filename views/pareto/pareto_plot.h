// SPDX-License-Identifier: MIT
// Draws ParetoData on a QCustomPlot; shared by the Pareto view and the offscreen report.
#pragma once
#include "pareto_data.h"

#include <QColor>
#include <QPointF>
#include <QString>

class QCustomPlot;

namespace qs::views {

/// How to draw a Pareto chart.
struct ParetoStyle {
    std::string x = "bits_per_weight"; ///< run metric keys (core/store/run_metrics.h)
    std::string y = "perplexity";
    bool logX = false;
    bool logY = false;
    std::int64_t selectedRunId = 0; ///< ringed when drawn; 0 = none
    QString title;                  ///< empty: no title row
};

/// The colour of the i-th series (a fixed, colour-blind friendly cycle).
QColor seriesColor(std::size_t i);

/// Clears `plot` and draws one scatter series per data.series, the front as a step line, the fp32
/// reference as a dashed horizontal line, a legend, and the selected run ringed. Replots.
void drawPareto(QCustomPlot* plot, const ParetoData& data, const ParetoStyle& style);

/// The point nearest to `pixel` (widget coordinates) within `radius` pixels, nullptr when none.
const ParetoPoint* paretoPointAt(const QCustomPlot* plot, const ParetoData& data, QPointF pixel,
                                 double radius = 8.0);

/// Tooltip text of a point: recipe label and its figures.
QString paretoTooltip(const ParetoPoint& p, const ParetoStyle& style, bool onFront);

} // namespace qs::views
