// SPDX-License-Identifier: MIT
#include "misalignment_plot.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <qcustomplot.h>

namespace qs::views {
namespace {

// One colour per format, in the order the analysis measured them.
const QColor kPalette[] = {QColor(0xd6, 0x27, 0x28), QColor(0xff, 0x7f, 0x0e), QColor(0x1f, 0x77, 0xb4),
                           QColor(0x2c, 0xa0, 0x2c), QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b)};

} // namespace

std::vector<std::string> misalignmentFormats(const nlohmann::json& summary) {
    std::vector<std::string> formats;
    for (const auto& c : summary.value("candidates", nlohmann::json::array())) {
        const std::string f = c.value("format", "");
        if (std::find(formats.begin(), formats.end(), f) == formats.end()) formats.push_back(f);
    }
    return formats;
}

void drawMisalignment(QCustomPlot* plot, const nlohmann::json& summary, const std::string& global) {
    plot->xAxis->setLabel(QObject::tr("local objective tr(ΔW H ΔWᵀ) / token"));
    plot->xAxis->setScaleType(QCPAxis::stLogarithmic);
    plot->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    plot->yAxis->setLabel(global == "kld" ? QObject::tr("KL to fp32") : QObject::tr("change of mean NLL"));
    plot->legend->setVisible(true);
    // Errors rise with the local objective: the upper left stays empty.
    plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    const std::vector<std::string> formats = misalignmentFormats(summary);
    std::map<std::string, QCPGraph*> graphs;
    for (std::size_t i = 0; i < formats.size(); ++i) {
        QCPGraph* g = plot->addGraph();
        const QColor colour = kPalette[i % std::size(kPalette)];
        g->setName(QString::fromStdString(formats[i]));
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, colour, colour, 6));
        graphs[formats[i]] = g;
    }
    for (const auto& c : summary.value("candidates", nlohmann::json::array())) {
        const double local = c.value("local", 0.0), y = c.value(global, std::nan(""));
        if (local > 0 && std::isfinite(y)) graphs[c.value("format", "")]->addData(local, y);
    }
    plot->rescaleAxes();
    const QCPRange x = plot->xAxis->range(), y = plot->yAxis->range();
    plot->xAxis->setRange(x.lower / 1.25, x.upper * 1.25); // no point on the frame
    plot->yAxis->setRange(y.lower - 0.05 * y.size(), y.upper + 0.05 * y.size());
}

} // namespace qs::views
