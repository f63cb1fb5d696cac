// SPDX-License-Identifier: MIT
// Draws ParetoData on a QCustomPlot; shared by the Pareto view and the offscreen report.
#pragma once
#include "pareto_data.h"

#include <QColor>
#include <QPointF>
#include <QString>

class QCustomPlot;

namespace qs::views {

/// Which points the y range is fitted to.
enum class ParetoRange {
    Robust, ///< all points but far outliers on the bad side (an int2 run must not flatten the rest)
    Front,  ///< the front and the fp32 reference
    All,    ///< every point
};

/// How to draw a Pareto chart.
struct ParetoStyle {
    std::string x = "bits_per_weight"; ///< run metric keys (core/store/run_metrics.h)
    std::string y = "perplexity";
    bool logX = false;
    bool logY = false;
    std::int64_t selectedRunId = 0; ///< ringed when drawn; 0 = none
    QString title;                  ///< empty: no title row
    ParetoRange range = ParetoRange::Robust;
    bool labels = false; ///< each point's recipe label beside it
};

/// The y range drawPareto uses and how many points fall outside it.
struct ParetoYRange {
    double lo = 0, hi = 1;
    int outside = 0;
};

/// The y range of `data` under `style` (range mode, log axis), padded, the fp32 reference and a plan
/// preview always in view:
/// Robust leaves out points beyond three interquartile ranges past the quartile on the bad side (above
/// for lower-is-better metrics, below for higher-is-better ones) — an int2 run on the front included.
ParetoYRange paretoYRange(const ParetoData& data, const ParetoStyle& style);

/// The colour of the i-th series (a fixed, colour-blind friendly cycle).
QColor seriesColor(std::size_t i);

/// Clears `plot` and draws one scatter series per data.series, the front as a step line, the fp32
/// reference as a dashed horizontal line, the legend in a row under the plot (never over the data), the
/// selected run ringed and, with style.labels, each point's label. Replots.
void drawPareto(QCustomPlot* plot, const ParetoData& data, const ParetoStyle& style);

/// The point nearest to `pixel` (widget coordinates) within `radius` pixels, nullptr when none.
const ParetoPoint* paretoPointAt(const QCustomPlot* plot, const ParetoData& data, QPointF pixel,
                                 double radius = 8.0);

/// Tooltip text of a point: recipe label and its figures.
QString paretoTooltip(const ParetoPoint& p, const ParetoStyle& style, bool onFront);

} // namespace qs::views
