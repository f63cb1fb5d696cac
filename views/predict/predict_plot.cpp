// SPDX-License-Identifier: MIT
#include "predict_plot.h"

#include <algorithm>
#include <cmath>
#include <qcustomplot.h>

namespace qs::views {
namespace {

const QColor kPoints(0, 114, 178), kLine(150, 150, 150);

} // namespace

double storedNumber(const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

void drawPredictionScatter(QCustomPlot* plot, const core::AnalysisOutput& output) {
    auto* points = new QCPGraph(plot->xAxis, plot->yAxis);
    points->setLineStyle(QCPGraph::lsNone);
    points->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, kPoints, kPoints, 6));
    double lo = 0, hi = 0;
    bool first = true;
    for (const auto& [label, v] : output.rows) {
        const double x = storedNumber(v, "target"), y = storedNumber(v, "loo_predicted");
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        points->addData(x, y);
        lo = first ? std::min(x, y) : std::min({lo, x, y});
        hi = first ? std::max(x, y) : std::max({hi, x, y});
        first = false;
    }
    auto* diagonal = new QCPItemStraightLine(plot);
    diagonal->setPen(QPen(kLine, 1, Qt::DashLine));
    diagonal->point1->setCoords(0, 0);
    diagonal->point2->setCoords(1, 1);
    const double pad = std::max(1e-9, (hi - lo) * 0.05);
    plot->xAxis->setRange(lo - pad, hi + pad);
    plot->yAxis->setRange(lo - pad, hi + pad);
}

void drawImportances(QCustomPlot* plot, const nlohmann::json& summary, std::size_t shown) {
    std::vector<std::pair<double, std::string>> imp;
    const nlohmann::json importances = summary.value("importances", nlohmann::json::object()); // items() needs it alive
    for (const auto& [k, v] : importances.items())
        if (v.is_number()) imp.emplace_back(v.get<double>(), k);
    std::sort(imp.rbegin(), imp.rend());
    if (imp.size() > shown) imp.resize(shown);
    auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
    bars->setPen(Qt::NoPen);
    bars->setBrush(kPoints);
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    double top = 0, bottom = 0;
    for (std::size_t i = 0; i < imp.size(); ++i) {
        bars->addData(double(i), imp[i].first);
        ticker->addTick(double(i), QString::fromStdString(imp[i].second));
        top = std::max(top, imp[i].first);
        bottom = std::min(bottom, imp[i].first);
    }
    plot->xAxis->setTicker(ticker);
    plot->xAxis->setRange(-0.7, double(std::max<std::size_t>(1, imp.size())) - 0.3);
    plot->yAxis->setRange(bottom * 1.1, std::max(1e-12, top * 1.1));
}

} // namespace qs::views
