// SPDX-License-Identifier: MIT
#include "histogram_view.h"

#include "common/number_line.h"

#include "common/plot_export.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QSpinBox>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>

namespace qs::views {
namespace {

// The tallest bin's count (at least 1): the top of the count axis and of the grid lines.
double tallestBin(const core::Histogram& h) {
    double top = 1;
    for (const auto c : h.counts) top = std::max(top, static_cast<double>(c));
    return top;
}

} // namespace

struct HistogramView::Computed {
    QString layer;
    const core::Model* model = nullptr;
    std::shared_ptr<const std::vector<float>> data;
    core::Histogram histogram;
    QString error;
};

HistogramView::HistogramView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_watcher(std::make_unique<QFutureWatcher<std::shared_ptr<Computed>>>()) {
    setObjectName(QStringLiteral("histogramView"));
    m_bins = new QSpinBox(this);
    m_bins->setObjectName(QStringLiteral("histogramBins"));
    m_bins->setRange(4, 4096);
    m_bins->setValue(128);
    m_bins->setToolTip(tr("Number of equal-width bins over the layer's [min, max]"));
    m_bins->setKeyboardTracking(false);
    m_log = new QCheckBox(tr("Log count axis"), this);
    m_log->setObjectName(QStringLiteral("histogramLog"));
    m_log->setToolTip(tr("Logarithmic count axis: shows the sparse tails (outliers) next to the bulk"));

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Bins"), this));
    controls->addWidget(m_bins);
    controls->addSpacing(12);
    controls->addWidget(m_log);
    controls->addStretch(1);

    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("histogramPlot"));
    m_plot->setMinimumSize(320, 240);
    m_plot->plotLayout()->insertRow(0);
    auto* titles = new QCPLayoutGrid;
    m_plot->plotLayout()->addElement(0, 0, titles);
    QFont titleFont = font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.15);
    titleFont.setBold(true);
    m_title = new QCPTextElement(m_plot, QString(), titleFont);
    m_subtitle = new QCPTextElement(m_plot, QString(), font());
    m_subtitle->setTextColor(QColor(80, 80, 80));
    titles->addElement(0, 0, m_title);
    titles->addElement(1, 0, m_subtitle);
    titles->setRowSpacing(0);
    m_plot->xAxis->setLabel(tr("weight value"));
    m_plot->yAxis->setLabel(tr("count"));
    m_plot->xAxis->grid()->setSubGridVisible(false);
    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setPen(QPen(QColor(40, 90, 160), 0.5));
    m_bars->setBrush(QColor(70, 130, 200, 200));
    m_bars->setName(tr("weights"));
    // The format's grid as thin vertical lines: where the quantized values can land.
    m_gridLines = new QCPGraph(m_plot->xAxis, m_plot->yAxis);
    m_gridLines->setName(tr("quantization grid"));
    m_gridLines->setLineStyle(QCPGraph::lsImpulse);
    m_gridLines->setPen(QPen(QColor(213, 94, 0, 170), 1.0));
    m_plot->setContextMenuPolicy(Qt::CustomContextMenu);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(m_plot, 1);

    connect(m_watcher.get(), &QFutureWatcherBase::finished, this, &HistogramView::onComputed);
    connect(m_bins, &QSpinBox::valueChanged, this, &HistogramView::requestUpdate);
    connect(m_log, &QCheckBox::toggled, this, [this] {
        applyScale();
        drawGrid(); // the lines reach the top of either scale
        m_plot->replot();
    });
    connect(m_plot, &QWidget::customContextMenuRequested, this, &HistogramView::showContextMenu);
    connect(context, &plugins::ViewContext::modelChanged, this, [this] {
        m_cacheModel = nullptr;
        m_cacheLayer.clear();
        m_cacheData.reset();
        requestUpdate();
    });
    connect(context, &plugins::ViewContext::layersChanged, this, &HistogramView::requestUpdate);
    connect(context, &plugins::ViewContext::selectedLayerChanged, this, &HistogramView::requestUpdate);
    connect(context, &plugins::ViewContext::quantResultChanged, this, [this] {
        drawGrid();
        updateTitle();
        m_plot->replot();
    });
    connect(context, &plugins::ViewContext::currentSpecChanged, this, [this] {
        drawGrid();
        updateTitle();
        m_plot->replot();
    });
    connect(context, &plugins::ViewContext::layerResultAdded, this, [this](const QString& name) {
        if (name != m_shownLayer) return;
        updateTitle();
        m_plot->replot();
    });
    requestUpdate();
}

HistogramView::~HistogramView() {
    // The worker holds only shared data (model, values); it may finish after the view is gone.
    m_watcher->disconnect(this);
}

int HistogramView::bins() const {
    return m_bins->value();
}
void HistogramView::setBins(int bins) {
    m_bins->setValue(bins);
}
bool HistogramView::isLogScale() const {
    return m_log->isChecked();
}
void HistogramView::setLogScale(bool on) {
    m_log->setChecked(on);
}
QString HistogramView::titleText() const {
    return m_title->text();
}

void HistogramView::requestUpdate() {
    if (m_watcher->isRunning()) {
        m_pending = true;
        return;
    }
    const QString name = m_context->selectedLayer();
    const core::LayerReport* layer = m_context->findLayer(name);
    const auto model = m_context->model();
    if (!layer || !model) {
        m_shownLayer.clear();
        m_error.clear();
        m_histogram = {};
        draw();
        return;
    }
    const core::WeightInfo info = layer->info;
    const int bins = m_bins->value();
    std::shared_ptr<const std::vector<float>> cached =
        (m_cacheModel == model.get() && m_cacheLayer == name) ? m_cacheData : nullptr;
    m_watcher->setFuture(QtConcurrent::run([model, info, bins, cached, name]() {
        auto out = std::make_shared<Computed>();
        out->layer = name;
        out->model = model.get();
        try {
            out->data =
                cached ? cached : std::make_shared<const std::vector<float>>(model->weightAsOutIn(info));
            out->histogram =
                core::computeHistogram(out->data->data(), static_cast<std::int64_t>(out->data->size()), bins);
        } catch (const std::exception& e) {
            out->error = QString::fromStdString(e.what());
        }
        return out;
    }));
}

void HistogramView::onComputed() {
    const std::shared_ptr<Computed> result = m_watcher->result();
    if (m_pending) {
        m_pending = false;
        requestUpdate();
        // A newer request is on its way; still draw this one if it is what is selected.
    }
    if (!result || result->layer != m_context->selectedLayer() || result->model != m_context->model().get())
        return;
    m_cacheModel = result->model;
    m_cacheLayer = result->layer;
    m_cacheData = result->data;
    m_shownLayer = result->layer;
    m_error = result->error;
    m_histogram = result->error.isEmpty() ? result->histogram : core::Histogram{};
    draw();
}

void HistogramView::draw() {
    QVector<double> keys, values;
    keys.reserve(static_cast<qsizetype>(m_histogram.counts.size()));
    values.reserve(keys.capacity());
    for (std::size_t i = 0; i < m_histogram.counts.size(); ++i) {
        keys << m_histogram.binCentre(i);
        values << static_cast<double>(m_histogram.counts[i]);
    }
    m_bars->setData(keys, values, true);
    m_bars->setWidth(m_histogram.binWidth());
    if (!m_histogram.counts.empty()) {
        const double pad = 0.02 * (m_histogram.hi - m_histogram.lo);
        m_plot->xAxis->setRange(m_histogram.lo - pad, m_histogram.hi + pad);
    } else {
        m_plot->xAxis->setRange(-1, 1);
    }
    drawGrid();
    updateTitle();
    applyScale();
    m_plot->replot();
    emit histogramUpdated();
}

void HistogramView::drawGrid() {
    m_grid.clear();
    m_gridCaption.clear();
    m_gridLines->data()->clear();
    const bool shown = m_cacheData && m_cacheLayer == m_shownLayer && !m_shownLayer.isEmpty();
    if (!shown || m_histogram.counts.empty()) return;
    // The spec this layer ran with in the current result (layer rules included), else the chosen one.
    core::QuantSpec spec = m_context->currentSpec();
    if (const auto& result = m_context->quantResult()) {
        const core::WeightAssignment a = result->job.assignmentFor(m_shownLayer.toStdString());
        if (a.keep) {
            m_gridCaption = tr("kept at its stored type: no quantization grid");
            return;
        }
        spec = a.spec;
    }
    const NumberLine line = numberLine(spec, m_cacheData->data(), m_cacheData->size(), 256);
    QString label = QString::fromStdString(spec.label());
    if (line.tooDense || line.values.size() > 64) {
        m_gridCaption = tr("%1: %2 levels in range, too dense to draw").arg(label).arg(line.valuesInRange);
        return;
    }
    m_grid = line.values;
    const double top = tallestBin(m_histogram);
    QVector<double> k, v;
    for (double x : m_grid) {
        k << x;
        v << top * (m_log->isChecked() ? 2.0 : 1.05);
    }
    m_gridLines->setData(k, v, true);
    // Short enough for the title: each group/channel/block rescales this per-tensor grid to its own range.
    m_gridCaption = spec.granularity == core::Granularity::Tensor
                        ? tr("grid: %1, %2 levels").arg(label).arg(m_grid.size())
                        : tr("grid: %1, %2 levels, fitted to the whole tensor").arg(label).arg(m_grid.size());
}

void HistogramView::applyScale() {
    const double top = tallestBin(m_histogram);
    if (m_log->isChecked()) {
        m_plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        m_plot->yAxis->setNumberFormat(QStringLiteral("eb"));
        m_plot->yAxis->setNumberPrecision(0);
        m_plot->yAxis->setRange(0.7, top * 2.0);
    } else {
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        m_plot->yAxis->setNumberFormat(QStringLiteral("g"));
        m_plot->yAxis->setNumberPrecision(6);
        m_plot->yAxis->setRange(0, top * 1.05);
    }
}

void HistogramView::updateTitle() {
    const QLocale locale(QLocale::English);
    if (!m_context->model()) {
        m_title->setText(tr("No model open"));
        m_subtitle->setText(tr("Open a model directory (File ▸ Open model…) or drop it on the window"));
        return;
    }
    if (m_shownLayer.isEmpty()) {
        m_title->setText(tr("No layer selected"));
        m_subtitle->setText(tr("Select a layer in the Model table"));
        return;
    }
    m_title->setText(m_shownLayer);
    if (!m_error.isEmpty()) {
        m_subtitle->setText(tr("Cannot read the weight: %1").arg(m_error));
        return;
    }
    QStringList parts;
    std::int64_t n = m_histogram.underflow + m_histogram.overflow;
    for (const auto c : m_histogram.counts)
        n += c;
    parts << tr("%1 weights").arg(locale.toString(static_cast<qlonglong>(n)));
    if (const core::LayerReport* layer = m_context->findLayer(m_shownLayer))
        parts << tr("std %1").arg(QString::number(layer->stats.std, 'g', 3))
              << tr("kurtosis %1").arg(QString::number(layer->stats.kurtosis, 'f', 2));
    QString text = parts.join(QStringLiteral("  ·  "));
    if (const core::LayerQuantResult* q = m_context->layerResult(m_shownLayer)) {
        const QString sqnr =
            std::isinf(q->error.sqnrDb) ? QStringLiteral("∞") : QString::number(q->error.sqnrDb, 'f', 1);
        text += QLatin1Char('\n') +
                tr("%1 %2:  MSE %3  ·  SQNR %4 dB")
                    .arg(QString::fromStdString(m_context->quantResult()->job.method).toUpper(),
                         QString::fromStdString(m_context->quantResult()->job.spec.label()),
                         QString::number(q->error.mse, 'e', 2), sqnr);
    } else if (m_context->isQuantResultComplete()) {
        text += QLatin1Char('\n') + tr("not quantized (kept at its stored type)");
    }
    if (!m_gridCaption.isEmpty()) text += QLatin1Char('\n') + m_gridCaption;
    m_subtitle->setText(text);
}

void HistogramView::showContextMenu(const QPoint& pos) {
    QMenu menu(this);
    QAction* log = menu.addAction(tr("Log count axis"));
    log->setCheckable(true);
    log->setChecked(m_log->isChecked());
    connect(log, &QAction::toggled, m_log, &QCheckBox::setChecked);
    menu.addSeparator();
    QString base =
        m_shownLayer.isEmpty() ? QStringLiteral("histogram") : m_shownLayer + QStringLiteral("-histogram");
    base.replace(QLatin1Char('/'), QLatin1Char('_'));
    addPlotExportActions(&menu, m_plot, base);
    menu.exec(m_plot->mapToGlobal(pos));
}

} // namespace qs::views
