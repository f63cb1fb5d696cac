// SPDX-License-Identifier: MIT
#include "landscape_plot.h"

#include <algorithm>
#include <qcustomplot.h>
#include <string>
#include <utility>
#include <vector>

namespace qs::views {
namespace {

// Okabe-Ito colours, as the other views.
const QColor kColours[] = {QColor(0, 114, 178), QColor(230, 159, 0), QColor(0, 158, 115)};
const QColor kQuantized(213, 94, 0);

} // namespace

void drawLandscapeSlices(QCustomPlot* plot, const nlohmann::json& summary) {
    plot->xAxis->setLabel(QObject::tr("t (W + t·v)"));
    plot->yAxis->setLabel(QObject::tr("loss (mean NLL, nats)"));
    double yMin = 1e300, yMax = -1e300, xMin = 1e300, xMax = -1e300;
    int d = 0;
    const nlohmann::json directions = summary.value("directions", nlohmann::json::array());
    for (const auto& dir : directions) {
        const QColor colour = kColours[d++ % 3];
        auto* g = new QCPGraph(plot->xAxis, plot->yAxis);
        g->setName(QString::fromStdString(dir.value("source", "")).left(60));
        g->setPen(QPen(colour, 2));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, colour, colour, 5));
        std::vector<std::pair<double, double>> pts;
        const nlohmann::json slice = dir.value("slice", nlohmann::json::object()); // items() needs it alive
        for (const auto& [t, l] : slice.items()) pts.emplace_back(std::stod(t), l.get<double>());
        std::sort(pts.begin(), pts.end());
        for (const auto& [t, l] : pts) {
            g->addData(t, l);
            yMin = std::min(yMin, l), yMax = std::max(yMax, l), xMin = std::min(xMin, t), xMax = std::max(xMax, t);
        }
        if (dir.contains("quantized_point")) {
            auto* q = new QCPGraph(plot->xAxis, plot->yAxis);
            q->setName(QObject::tr("quantized model"));
            q->setLineStyle(QCPGraph::lsNone);
            q->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, kQuantized, kQuantized, 12));
            q->addData(1.0, dir["quantized_point"]["loss"].get<double>());
        }
    }
    if (xMax >= xMin) {
        const double pad = std::max(1e-9, (yMax - yMin) * 0.08);
        plot->xAxis->setRange(xMin - 0.05, xMax + 0.05);
        plot->yAxis->setRange(yMin - pad, yMax + pad);
    }
}

} // namespace qs::views
