// SPDX-License-Identifier: MIT
#include "layer_errors_view.h"

#include "common/layer_names.h"
#include "common/plot_export.h"
#include "common/plot_layout.h"

#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace qs::views {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
const QColor kBars(0, 114, 178), kSelected(213, 94, 0), kBits(0, 158, 115), kKept(150, 150, 150);

double finiteMax(const std::vector<double>& v) {
    double m = 0;
    for (double x : v)
        if (std::isfinite(x)) m = std::max(m, x);
    return m;
}

} // namespace

LayerErrorsView::LayerErrorsView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context), m_plot(new QCustomPlot(this)), m_title(new QLabel(this)) {
    setObjectName(QStringLiteral("layerErrorsView"));
    m_title->setObjectName(QStringLiteral("layerErrorsTitle"));
    m_title->setWordWrap(true);
    m_plot->setObjectName(QStringLiteral("layerErrorsPlot"));
    m_plot->setMinimumSize(320, 220);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_plot->axisRect()->setRangeZoom(Qt::Horizontal);
    m_plot->axisRect()->setRangeDrag(Qt::Horizontal);
    m_plot->yAxis->setLabel(tr("SQNR (dB, higher is better)"));
    m_plot->yAxis2->setVisible(true);
    m_plot->yAxis2->setLabel(tr("bits per weight"));
    m_plot->xAxis->setTickLabelRotation(60);
    // The legend in a row of its own under the bars, never over them; two entries a row, so a narrow
    // view wraps it instead of clipping it.
    m_plot->legend->setVisible(true);
    placeLegendBelow(m_plot->legend, m_plot->axisRect(), 2);
    installPlotExportMenu(m_plot, [] { return QStringLiteral("layer_errors"); });

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_title);
    layout->addWidget(m_plot, 1);

    connect(m_plot, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable* p, int index, QMouseEvent*) {
        if (p->interface1D() && index >= 0 && index < p->interface1D()->dataCount())
            selectBar(static_cast<int>(std::lround(p->interface1D()->dataMainKey(index))));
    });
    connect(context, &plugins::ViewContext::layersChanged, this, &LayerErrorsView::redraw);
    connect(context, &plugins::ViewContext::quantResultChanged, this, &LayerErrorsView::redraw);
    connect(context, &plugins::ViewContext::layerResultAdded, this, &LayerErrorsView::redraw);
    connect(context, &plugins::ViewContext::selectedLayerChanged, this, &LayerErrorsView::redraw);
    redraw();
}

bool LayerErrorsView::selectBar(int index) {
    if (index < 0 || index >= static_cast<int>(m_series.names.size())) return false;
    m_context->setSelectedLayer(m_series.names[static_cast<std::size_t>(index)]);
    return true;
}

QString LayerErrorsView::titleText() const {
    return m_title->text();
}

void LayerErrorsView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    redraw(); // the number of tick labels that fit depends on the width
}

void LayerErrorsView::redraw() {
    m_series = {};
    for (const auto& l : m_context->layers()) {
        if (!l.info.quantizable) continue;
        const QString name = QString::fromStdString(l.info.name);
        const core::LayerQuantResult* r = m_context->layerResult(name);
        const bool kept = r && r->kept;
        m_series.names.push_back(name);
        m_series.kept.push_back(kept);
        m_series.sqnrDb.push_back(r && !kept && std::isfinite(r->error.sqnrDb) ? r->error.sqnrDb : kNaN);
        m_series.bitsPerWeight.push_back(r ? r->bitsPerWeight : kNaN);
    }
    m_plot->clearPlottables();
    const auto n = static_cast<int>(m_series.names.size());
    const auto& result = m_context->quantResult();
    if (!result || n == 0) {
        m_title->setText(n == 0 ? tr("Open a model to see its layers.")
                                : tr("No result yet: Run ▶ quantizes with the current recipe, or select a run in "
                                     "Runs or Pareto."));
        m_plot->replot();
        return;
    }
    const int selected = static_cast<int>(std::find(m_series.names.begin(), m_series.names.end(),
                                                    m_context->selectedLayer()) - m_series.names.begin());
    auto* bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    bars->setName(tr("SQNR"));
    bars->setPen(Qt::NoPen);
    bars->setBrush(kBars);
    auto* highlight = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    highlight->setName(tr("selected layer"));
    highlight->setPen(Qt::NoPen);
    highlight->setBrush(kSelected);
    auto* kept = new QCPGraph(m_plot->xAxis, m_plot->yAxis);
    kept->setName(tr("kept (exact)"));
    kept->setLineStyle(QCPGraph::lsNone);
    kept->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, kKept, kKept, 7));
    auto* bits = new QCPGraph(m_plot->xAxis, m_plot->yAxis2);
    bits->setName(tr("bits/weight"));
    bits->setPen(QPen(kBits, 1.5));
    bits->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, kBits, kBits, 4));
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    // As many labels as fit side by side (rotated, a line height each); zoom shows the rest.
    const int room = std::max(4, m_plot->axisRect()->width() / (fontMetrics().height() + 4));
    const int every = std::max(1, (n + room - 1) / room);
    int worst = -1, done = 0;
    for (int i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        const double s = m_series.sqnrDb[k];
        if (std::isfinite(s)) {
            (i == selected ? highlight : bars)->addData(i, s);
            if (worst < 0 || s < m_series.sqnrDb[static_cast<std::size_t>(worst)]) worst = i;
        }
        if (m_series.kept[k]) kept->addData(i, 0);
        if (std::isfinite(m_series.bitsPerWeight[k])) {
            bits->addData(i, m_series.bitsPerWeight[k]);
            ++done;
        }
        if (i % every == 0 || i == selected) ticker->addTick(i, shortLayerName(m_series.names[k]));
    }
    m_plot->xAxis->setTicker(ticker);
    m_plot->xAxis->setRange(-0.7, n - 0.3);
    m_plot->yAxis->setRange(0, std::max(1.0, finiteMax(m_series.sqnrDb) * 1.1));
    m_plot->yAxis2->setRange(0, std::max(1.0, finiteMax(m_series.bitsPerWeight) * 1.2));
    QString title = tr("<b>%1</b> · %2 of %3 layers")
                        .arg(QString::fromStdString(result->job.spec.label()).toHtmlEscaped())
                        .arg(done)
                        .arg(n);
    if (!result->job.layers.empty()) title += tr(" · %n layer rule(s)", nullptr, static_cast<int>(result->job.layers.size()));
    if (worst >= 0)
        title += tr(" · lowest SQNR: %1, %2 dB")
                     .arg(shortLayerName(m_series.names[static_cast<std::size_t>(worst)]))
                     .arg(m_series.sqnrDb[static_cast<std::size_t>(worst)], 0, 'f', 1);
    m_title->setText(title);
    m_plot->replot();
}

} // namespace qs::views
