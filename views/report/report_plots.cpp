// SPDX-License-Identifier: MIT
#include "report_plots.h"

#include "landscape_plot.h"
#include "misalignment_plot.h"
#include "pareto_plot.h"
#include "predict_plot.h"
#include "spans_plot.h"

#include <algorithm>
#include <qcustomplot.h>

namespace qs::report {

namespace {

// A plot that is never shown: QCustomPlot renders to a pixmap without a window (offscreen platform).
std::unique_ptr<QCustomPlot> makePlot() {
    auto plot = std::make_unique<QCustomPlot>();
    plot->resize(kFigureWidth, kFigureHeight);
    QFont f = plot->font();
    f.setPointSizeF(9);
    plot->setFont(f);
    for (QCPAxis* a : {plot->xAxis, plot->yAxis, plot->yAxis2}) {
        a->setLabelFont(f);
        a->setTickLabelFont(f);
    }
    plot->legend->setFont(f);
    return plot;
}

QImage grab(QCustomPlot* plot) {
    plot->replot();
    return plot->toPixmap(kFigureWidth, kFigureHeight, 2.0).toImage();
}

void dashedLine(QCustomPlot* plot, double y, const QString& text) {
    auto* line = new QCPItemStraightLine(plot);
    line->point1->setCoords(0, y);
    line->point2->setCoords(1, y);
    line->setPen(QPen(QColor(90, 90, 90), 1.0, Qt::DashLine));
    auto* label = new QCPItemText(plot);
    label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(0.995, y);
    label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
    label->setText(text);
    label->setColor(QColor(90, 90, 90));
}

} // namespace

QImage renderPareto(const std::vector<core::RunRecord>& runs, std::int64_t selected, views::ParetoGroup group) {
    auto plot = makePlot();
    views::ParetoStyle style;
    style.selectedRunId = selected;
    const auto data = views::buildParetoData(runs, style.x, style.y, group);
    views::drawPareto(plot.get(), data, style);
    return grab(plot.get());
}

QImage renderCostPareto(const std::vector<core::RunRecord>& runs, std::int64_t selected, const std::string& x,
                        const std::string& y, const views::RunCosts& costs) {
    auto plot = makePlot();
    views::ParetoStyle style;
    style.selectedRunId = selected;
    style.x = x;
    style.y = y;
    const auto data = views::buildParetoData(runs, x, y, views::ParetoGroup::Format, {}, costs);
    views::drawPareto(plot.get(), data, style);
    return grab(plot.get());
}

QImage renderKurtosis(const std::vector<LayerBar>& layers, const QString& runLabel) {
    auto plot = makePlot();
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    QVector<double> k, v, sk, sv;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        k << double(i);
        v << layers[i].kurtosis - 3.0; // drawn from the base value 3 (QCPBars adds the base)
        ticker->addTick(double(i), layers[i].name);
        if (layers[i].sqnrDb) {
            sk << double(i);
            sv << *layers[i].sqnrDb;
        }
    }
    plot->xAxis->setTicker(ticker);
    plot->xAxis->setTickLabelRotation(layers.size() > 8 ? 60 : 0);
    plot->yAxis->setLabel(QObject::tr("kurtosis of the weights"));
    auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
    bars->setName(QObject::tr("kurtosis (before)"));
    bars->setData(k, v, true);
    bars->setWidth(0.75);
    bars->setPen(Qt::NoPen);
    bars->setBrush(QColor(0, 114, 178, 200));
    // Bars grow from the Gaussian's 3: up for heavy tails (outliers), down for light ones.
    bars->setBaseValue(3.0);
    plot->xAxis->setRange(-0.7, std::max<double>(1, layers.size()) - 0.3);
    if (!v.isEmpty()) {
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        const double top = std::max(*hi + 3.0, 3.5), bottom = std::min(*lo + 3.0, 2.5);
        plot->yAxis->setRange(bottom - 0.08 * (top - bottom), top + 0.45 * (top - bottom)); // room for the legend
        dashedLine(plot.get(), 3.0, QObject::tr("Gaussian = 3"));
    } else {
        plot->yAxis->setRange(0, 4);
    }
    if (!sk.isEmpty()) {
        auto* g = plot->addGraph(plot->xAxis, plot->yAxis2);
        g->setName(QObject::tr("SQNR dB, %1 (after)").arg(runLabel));
        g->setPen(QPen(QColor(213, 94, 0), 1.5));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
        g->setData(sk, sv, true);
        plot->yAxis2->setVisible(true);
        plot->yAxis2->setLabel(QObject::tr("SQNR (dB)"));
        const auto [lo, hi] = std::minmax_element(sv.begin(), sv.end());
        plot->yAxis2->setRange(*lo - 2, *hi + 2);
    }
    plot->legend->setVisible(true);
    return grab(plot.get());
}

QImage renderChannels(const std::vector<double>& values, const QString& what, const QString& xLabel) {
    auto plot = makePlot();
    const views::ChannelBands bands = views::channelBands(values);
    QVector<double> k, v, tk, tv;
    for (std::size_t i = 0; i < values.size(); ++i) {
        k << double(i);
        v << values[i];
    }
    for (const auto c : views::topChannels(values, 8)) {
        tk << double(c);
        tv << values[static_cast<std::size_t>(c)];
    }
    auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
    bars->setName(what);
    bars->setData(k, v, true);
    bars->setWidth(1.0);
    bars->setPen(Qt::NoPen);
    bars->setBrush(QColor(0, 114, 178, 190));
    auto* top = new QCPBars(plot->xAxis, plot->yAxis);
    top->setName(QObject::tr("top 8 channels"));
    top->setData(tk, tv);
    top->setWidth(std::max(1.0, values.size() / 150.0));
    top->setPen(Qt::NoPen);
    top->setBrush(QColor(213, 94, 0));
    dashedLine(plot.get(), bands.p50, QObject::tr("median %1").arg(bands.p50, 0, 'g', 3));
    dashedLine(plot.get(), bands.p95, QObject::tr("95th percentile %1").arg(bands.p95, 0, 'g', 3));
    plot->xAxis->setLabel(xLabel);
    plot->yAxis->setLabel(QObject::tr("max magnitude"));
    plot->xAxis->setRange(-0.5, std::max<double>(1, values.size()) - 0.5);
    plot->yAxis->setRange(0, bands.p100 * 1.3 + 1e-12); // headroom for the legend
    plot->legend->setVisible(true);
    return grab(plot.get());
}

QImage renderLandscapeSlices(const nlohmann::json& summary) {
    auto plot = makePlot();
    views::drawLandscapeSlices(plot.get(), summary);
    plot->legend->setVisible(true);
    return grab(plot.get());
}

QImage renderMisalignment(const nlohmann::json& summary) {
    auto plot = makePlot();
    views::drawMisalignment(plot.get(), summary, "delta_loss");
    return grab(plot.get());
}

QImage renderPrediction(const core::AnalysisOutput& output) {
    auto plot = makePlot();
    views::drawPredictionScatter(plot.get(), output);
    const std::string target = output.summary.value("target", "");
    plot->xAxis->setLabel(QObject::tr("measured %1").arg(QString::fromStdString(target)));
    plot->yAxis->setLabel(QObject::tr("predicted %1 (leave-one-out)").arg(QString::fromStdString(target)));
    return grab(plot.get());
}

QImage renderSpans(const Eigen::MatrixXd& spans, int ctx) {
    auto plot = makePlot();
    views::drawSpansHeatmap(plot.get(), spans, ctx, QObject::tr("keys"));
    return grab(plot.get());
}

} // namespace qs::report
