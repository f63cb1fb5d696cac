// SPDX-License-Identifier: MIT
#include "formats_view.h"

#include "analysis/format_comparison.h"
#include "common/plot_export.h"
#include "common/plot_layout.h"
#include "format_trial_model.h"
#include "quant/fake_quant.h"

#include <QAction>
#include <QApplication>
#include <QButtonGroup>
#include <QClipboard>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QRadioButton>
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableView>
#include <QTextBrowser>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <qcustomplot.h>

namespace qs::views {
namespace {

constexpr int kValueBins = 160;
constexpr int kErrorBins = 121; // odd: zero error is the centre of a bin

QString qstr(std::string_view s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QString number(double v, int precision = 4) {
    return QString::number(v, 'g', precision);
}

QString sqnrText(double db) {
    return std::isinf(db) ? QStringLiteral("∞") : QString::number(db, 'f', 2);
}

// Two specs name the same trial when they differ at most in a group size that does not apply.
nlohmann::json trialKey(core::QuantSpec spec) {
    if (spec.granularity != core::Granularity::Group) spec.groupSize = 0;
    return spec.toJson();
}

// A plot with a bold title and a grey subtitle above the axis rect and the legend below it.
void decoratePlot(QCustomPlot* plot, const QFont& base, QCPTextElement*& title, QCPTextElement*& subtitle,
                  bool legend) {
    plot->setMinimumSize(320, 200);
    plot->plotLayout()->insertRow(0);
    auto* titles = new QCPLayoutGrid;
    plot->plotLayout()->addElement(0, 0, titles);
    QFont titleFont = base;
    titleFont.setPointSizeF(base.pointSizeF() * 1.1);
    titleFont.setBold(true);
    title = new QCPTextElement(plot, QString(), titleFont);
    subtitle = new QCPTextElement(plot, QString(), base);
    subtitle->setTextColor(QColor(80, 80, 80));
    titles->addElement(0, 0, title);
    titles->addElement(1, 0, subtitle);
    titles->setRowSpacing(0);
    plot->xAxis->grid()->setSubGridVisible(false);
    if (legend) {
        plot->legend->setVisible(true);
        plot->axisRect()->insetLayout()->take(plot->legend);
        plot->plotLayout()->addElement(2, 0, plot->legend);
        plot->plotLayout()->setRowStretchFactor(2, 0.001);
        plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
        plot->legend->setBorderPen(Qt::NoPen);
        plot->legend->setBrush(Qt::NoBrush);
        plot->legend->setMargins(QMargins(0, 0, 0, 0));
        plot->legend->setColumnSpacing(24);
        plot->legend->setFont(base);
    }
}

void setAxisLog(QCPAxis* axis, bool log) {
    if (log) {
        axis->setScaleType(QCPAxis::stLogarithmic);
        axis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        axis->setNumberFormat(QStringLiteral("eb"));
        axis->setNumberPrecision(0);
    } else {
        axis->setScaleType(QCPAxis::stLinear);
        axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        axis->setNumberFormat(QStringLiteral("g"));
        axis->setNumberPrecision(4);
    }
}

} // namespace

struct FormatsView::Loaded {
    quint64 generation = 0;
    QString layer;
    const core::Model* model = nullptr;
    std::shared_ptr<const std::vector<float>> data;
    std::int64_t rows = 0, cols = 0;
    QString error;
};

struct FormatsView::Compared {
    quint64 generation = 0;
    std::vector<core::FormatTrial> trials;
    bool cancelled = false;
    QString error;
};

struct FormatsView::Detail {
    quint64 generation = 0;
    Shown shown;
};

struct FormatsView::Progress {
    std::atomic<long long> done{0};
    std::atomic<long long> total{0};
};

FormatsView::FormatsView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_loadWatcher(std::make_unique<QFutureWatcher<std::shared_ptr<Loaded>>>()),
      m_compareWatcher(std::make_unique<QFutureWatcher<std::shared_ptr<Compared>>>()),
      m_detailWatcher(std::make_unique<QFutureWatcher<std::shared_ptr<Detail>>>()) {
    setObjectName(QStringLiteral("formatsView"));

    m_formatCombo = new QComboBox(this);
    m_formatCombo->setObjectName(QStringLiteral("formatsFormatCombo"));
    for (const auto& f : core::formatTable()) {
        m_formatCombo->addItem(qstr(f.name));
        m_formatCombo->setItemData(m_formatCombo->count() - 1, qstr(f.summary), Qt::ToolTipRole);
    }
    m_formatCombo->setToolTip(tr("The format shown: its grid on the number line, its error below. "
                                 "The Parameters form follows."));
    m_linear = new QRadioButton(tr("Linear"), this);
    m_linear->setObjectName(QStringLiteral("formatsLinearAxis"));
    m_log = new QRadioButton(tr("Log |x|"), this);
    m_log->setObjectName(QStringLiteral("formatsLogAxis"));
    m_log->setToolTip(tr("Logarithmic axis of magnitudes: a float grid has evenly spaced binades, "
                         "an integer grid crowds at the top"));
    auto* axisGroup = new QButtonGroup(this);
    axisGroup->addButton(m_linear);
    axisGroup->addButton(m_log);
    m_linear->setChecked(true);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("formatsStatus"));
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status->setWordWrap(true); // a long status wraps instead of widening the view

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Format"), this));
    controls->addWidget(m_formatCombo);
    controls->addSpacing(16);
    controls->addWidget(new QLabel(tr("Number line axis:"), this));
    controls->addWidget(m_linear);
    controls->addWidget(m_log);
    controls->addSpacing(16);
    controls->addWidget(m_status, 1);

    buildPlots();

    m_model = new FormatTrialModel(this);
    m_proxy = new FormatTrialProxy(this);
    m_proxy->setSourceModel(m_model);
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("formatsTable"));
    m_table->setModel(m_proxy);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->setVisible(false);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(FormatTrialModel::Format, QHeaderView::Stretch);
    for (int c = FormatTrialModel::Bits; c < FormatTrialModel::ColumnCount; ++c)
        m_table->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSortIndicator(FormatTrialModel::Bits, Qt::AscendingOrder);
    m_table->setSortingEnabled(true);
    m_table->setToolTip(tr("Every format and granularity on the selected layer. Click a row to choose it; "
                           "click a header to sort."));
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    auto* copy = new QAction(tr("Copy as CSV"), m_table);
    copy->setShortcut(QKeySequence::Copy);
    copy->setShortcutContext(Qt::WidgetShortcut);
    m_table->addAction(copy);
    connect(copy, &QAction::triggered, this, [this] {
        QList<int> rows;
        for (const QModelIndex& i : m_table->selectionModel()->selectedRows())
            rows << m_proxy->mapToSource(i).row();
        QApplication::clipboard()->setText(m_model->toCsv(rows));
    });

    m_explanation = new QTextBrowser(this);
    m_explanation->setObjectName(QStringLiteral("formatsExplanation"));
    m_explanation->setOpenLinks(false);
    m_explanation->setMinimumHeight(120);

    auto* plots = new QSplitter(Qt::Vertical, this);
    plots->addWidget(m_linePlot);
    plots->addWidget(m_errorPlot);
    plots->setStretchFactor(0, 3);
    plots->setStretchFactor(1, 2);
    auto* side = new QSplitter(Qt::Vertical, this);
    side->addWidget(m_table);
    side->addWidget(m_explanation);
    side->setStretchFactor(0, 3);
    side->setStretchFactor(1, 2);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->setObjectName(QStringLiteral("formatsSplitter"));
    split->addWidget(plots);
    split->addWidget(side);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setChildrenCollapsible(false);
    split->setSizes({640, 360}); // scaled to the real width when laid out

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(split, 1);

    m_progressTimer = new QTimer(this);
    m_progressTimer->setInterval(150);
    connect(m_progressTimer, &QTimer::timeout, this, &FormatsView::updateStatus);

    connect(m_loadWatcher.get(), &QFutureWatcherBase::finished, this, &FormatsView::onLoaded);
    connect(m_compareWatcher.get(), &QFutureWatcherBase::finished, this, &FormatsView::onCompared);
    connect(m_detailWatcher.get(), &QFutureWatcherBase::finished, this, &FormatsView::onDetail);
    connect(m_formatCombo, &QComboBox::activated, this, &FormatsView::onFormatPicked);
    connect(m_log, &QRadioButton::toggled, this, &FormatsView::drawNumberLine);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) { onRowActivated(current); });
    connect(m_table, &QTableView::clicked, this, &FormatsView::onRowActivated);
    connect(m_table, &QWidget::customContextMenuRequested, this, &FormatsView::showTableMenu);
    connect(m_linePlot, &QWidget::customContextMenuRequested, this, &FormatsView::showLineMenu);
    installPlotExportMenu(m_errorPlot, [this] { return baseName(QStringLiteral("error")); });

    connect(context, &plugins::ViewContext::modelChanged, this, &FormatsView::onLayerOrModelChanged);
    connect(context, &plugins::ViewContext::layersChanged, this, &FormatsView::onLayerOrModelChanged);
    connect(context, &plugins::ViewContext::selectedLayerChanged, this, &FormatsView::onLayerOrModelChanged);
    connect(context, &plugins::ViewContext::currentSpecChanged, this, &FormatsView::onCurrentSpecChanged);

    syncControls();
    onLayerOrModelChanged();
    drawNumberLine();
    drawError();
    updateExplanation();
}

FormatsView::~FormatsView() {
    // Workers hold only shared data (model, values, token); they may finish after the view is gone.
    if (m_compareCancel) m_compareCancel->cancel();
    m_loadWatcher->disconnect(this);
    m_compareWatcher->disconnect(this);
    m_detailWatcher->disconnect(this);
}

void FormatsView::buildPlots() {
    m_linePlot = new QCustomPlot(this);
    m_linePlot->setObjectName(QStringLiteral("formatsNumberLine"));
    decoratePlot(m_linePlot, font(), m_lineTitle, m_lineSubtitle, true);
    m_linePlot->xAxis->setLabel(tr("weight value"));
    m_linePlot->yAxis->setLabel(tr("weights per bin"));
    m_linePlot->yAxis->setNumberFormat(QStringLiteral("gb"));
    m_linePlot->yAxis2->setVisible(false);
    m_linePlot->yAxis2->setRange(0, 1.1);
    m_valueGraph = m_linePlot->addGraph(m_linePlot->xAxis, m_linePlot->yAxis);
    m_valueGraph->setLineStyle(QCPGraph::lsStepLeft);
    m_valueGraph->setPen(QPen(QColor(40, 90, 160), 1.0));
    m_valueGraph->setBrush(QColor(70, 130, 200, 110));
    m_valueGraph->setName(tr("layer weights (histogram)"));
    m_denseBand = new QCPItemRect(m_linePlot);
    m_denseBand->topLeft->setAxes(m_linePlot->xAxis, m_linePlot->yAxis2);
    m_denseBand->bottomRight->setAxes(m_linePlot->xAxis, m_linePlot->yAxis2);
    m_denseBand->setPen(Qt::NoPen);
    m_denseBand->setBrush(QColor(200, 70, 30, 55));
    m_denseBand->setVisible(false);
    m_tickGraph = m_linePlot->addGraph(m_linePlot->xAxis, m_linePlot->yAxis2);
    m_tickGraph->setLineStyle(QCPGraph::lsImpulse);
    m_tickGraph->setPen(QPen(QColor(200, 70, 30, 200), 1.3));
    m_tickGraph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(200, 70, 30), 5));
    m_tickGraph->setName(tr("representable values"));
    m_linePlot->setContextMenuPolicy(Qt::CustomContextMenu);

    m_errorPlot = new QCustomPlot(this);
    m_errorPlot->setObjectName(QStringLiteral("formatsErrorPlot"));
    decoratePlot(m_errorPlot, font(), m_errorTitle, m_errorSubtitle, false);
    m_errorPlot->xAxis->setLabel(tr("quantization error x − x′"));
    m_errorPlot->yAxis->setLabel(tr("weights per bin"));
    m_errorPlot->yAxis->setNumberFormat(QStringLiteral("gb"));
    m_errorBars = new QCPBars(m_errorPlot->xAxis, m_errorPlot->yAxis);
    m_errorBars->setPen(QPen(QColor(120, 60, 140), 0.5));
    m_errorBars->setBrush(QColor(150, 90, 180, 190));
    m_errorBars->setName(tr("error"));
}

// ---------------------------------------------------------------------------------------------
// State

bool FormatsView::isComparing() const {
    return m_compareWatcher->isRunning();
}

bool FormatsView::isDetailCurrent() const {
    return m_shown.valid && m_shown.spec.toJson() == m_context->currentSpec().toJson();
}

int FormatsView::tickCount() const {
    return m_tickGraph->data()->size();
}

QString FormatsView::explanationText() const {
    return m_explanation->toPlainText();
}

bool FormatsView::isLogAxis() const {
    return m_log->isChecked();
}

void FormatsView::setLogAxis(bool on) {
    (on ? m_log : m_linear)->setChecked(true);
}

QString FormatsView::numberLineTitle() const {
    return m_lineTitle->text();
}

QString FormatsView::errorTitle() const {
    return m_errorTitle->text();
}

void FormatsView::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (m_dirty) onLayerOrModelChanged();
}

// ---------------------------------------------------------------------------------------------
// Work off the GUI thread: load the layer, compare every format, detail the chosen one.

void FormatsView::onLayerOrModelChanged() {
    const auto model = m_context->model();
    const QString name = m_context->selectedLayer();
    const core::LayerReport* layer = model ? m_context->findLayer(name) : nullptr;
    const QString want = layer ? name : QString();
    const bool same = want == m_shownLayer && model.get() == m_dataModel;
    if (same && !m_dirty) return; // shown already, or on its way
    m_shownLayer = want;
    m_dataModel = model.get();
    // Everything computed for the previous layer is stale; a running comparison stops.
    ++m_loadGeneration;
    ++m_compareGeneration;
    ++m_detailGeneration;
    if (m_compareCancel) m_compareCancel->cancel();
    m_progressTimer->stop();
    m_data.reset();
    m_loadError.clear();
    m_compareError.clear();
    m_shown = {};
    m_model->setTrials({});
    if (!isVisible()) {
        m_dirty = true; // start when shown: a hidden tab costs nothing
    } else {
        m_dirty = false;
        if (layer) {
            const core::WeightInfo info = layer->info;
            const quint64 generation = m_loadGeneration;
            m_loadWatcher->setFuture(QtConcurrent::run([model, info, generation, want]() {
                auto out = std::make_shared<Loaded>();
                out->generation = generation;
                out->layer = want;
                out->model = model.get();
                try {
                    out->data = std::make_shared<const std::vector<float>>(model->weightAsOutIn(info));
                    out->rows = info.matrixRows();
                    out->cols = info.matrixCols();
                } catch (const std::exception& e) {
                    out->error = QString::fromStdString(e.what());
                }
                return out;
            }));
        }
    }
    drawNumberLine();
    drawError();
    updateExplanation();
    updateStatus();
    emit trialsUpdated();
}

void FormatsView::onLoaded() {
    if (!m_loadWatcher->future().isFinished()) return;
    const std::shared_ptr<Loaded> r = m_loadWatcher->result();
    if (!r || r->generation != m_loadGeneration) return;
    if (!r->error.isEmpty()) {
        m_loadError = r->error;
        drawNumberLine();
        drawError();
        updateStatus();
        return;
    }
    m_data = r->data;
    m_rows = r->rows;
    m_cols = r->cols;
    startCompare();
    startDetail();
}

void FormatsView::startCompare() {
    if (!m_data) return;
    if (m_compareCancel) m_compareCancel->cancel();
    auto token = std::make_shared<core::CancelToken>();
    auto progress = std::make_shared<Progress>();
    m_compareCancel = token;
    m_compareProgress = progress;
    const quint64 generation = ++m_compareGeneration;
    // The table's group rows use the chosen group size; MX/NV specs keep the previous one.
    const core::QuantSpec& spec = m_context->currentSpec();
    if (spec.granularity == core::Granularity::Group || m_compareGroup <= 0)
        m_compareGroup = core::formatTraits(spec.format).fixedBlock ? 32 : spec.groupSize;
    const int group = m_compareGroup;
    const auto data = m_data;
    const std::int64_t rows = m_rows, cols = m_cols;
    m_compareError.clear();
    m_model->setTrials({});
    m_compareWatcher->setFuture(QtConcurrent::run([data, rows, cols, group, token, progress, generation]() {
        auto out = std::make_shared<Compared>();
        out->generation = generation;
        core::JobContext job;
        job.cancel = token.get();
        job.progress = [progress](long long done, long long total, const std::string&) {
            progress->done.store(done, std::memory_order_relaxed);
            progress->total.store(total, std::memory_order_relaxed);
        };
        try {
            out->trials = core::compareFormats(data->data(), rows, cols, group, job);
        } catch (const core::Cancelled&) {
            out->cancelled = true;
        } catch (const std::exception& e) {
            out->error = QString::fromStdString(e.what());
        }
        return out;
    }));
    m_progressTimer->start();
    updateStatus();
    emit trialsUpdated();
}

void FormatsView::onCompared() {
    if (!m_compareWatcher->future().isFinished()) return;
    const std::shared_ptr<Compared> r = m_compareWatcher->result();
    if (!r || r->generation != m_compareGeneration) return; // a newer layer or group replaced it
    m_progressTimer->stop();
    if (r->cancelled) return;
    m_compareError = r->error;
    m_model->setTrials(std::move(r->trials));
    syncControls();
    updateStatus();
    updateExplanation();
    emit trialsUpdated();
}

void FormatsView::startDetail() {
    if (!m_data) return;
    const quint64 generation = ++m_detailGeneration;
    const core::QuantSpec spec = m_context->currentSpec();
    const auto data = m_data;
    const std::int64_t rows = m_rows, cols = m_cols;
    m_detailWatcher->setFuture(QtConcurrent::run([data, rows, cols, spec, generation]() {
        auto out = std::make_shared<Detail>();
        out->generation = generation;
        Shown& s = out->shown;
        s.spec = spec;
        try {
            const float* x = data->data();
            const auto n = static_cast<std::int64_t>(data->size());
            s.line = numberLine(spec, x, data->size());
            s.values = core::computeHistogram(x, n, kValueBins);
            // |x| on a log axis from its 0.1th percentile: a few near-zero weights would otherwise
            // stretch the axis over decades of empty bins (they count as underflow).
            std::vector<float> work;
            work.reserve(data->size());
            for (const float v : *data)
                if (v != 0.0f && std::isfinite(v)) work.push_back(std::fabs(v));
            if (!work.empty()) {
                const auto k = static_cast<std::ptrdiff_t>(work.size() / 1000);
                std::nth_element(work.begin(), work.begin() + k, work.end());
                const double logLo = std::log10(static_cast<double>(work[static_cast<std::size_t>(k)]));
                const double logHi = std::log10(static_cast<double>(s.line.range.amax));
                for (float& v : work)
                    v = std::log10(v);
                const auto m = static_cast<std::int64_t>(work.size());
                s.logValues = logHi > logLo ? core::computeHistogram(work.data(), m, kValueBins, logLo, logHi)
                                            : core::computeHistogram(work.data(), m, kValueBins);
            }
            work.assign(data->size(), 0.0f);
            core::fakeQuantize(x, rows, cols, spec, work.data());
            s.error = core::computeError(x, work.data(), n);
            double reach = 0;
            for (std::size_t i = 0; i < work.size(); ++i) {
                work[i] = x[i] - work[i];
                if (std::isfinite(work[i])) reach = std::max(reach, static_cast<double>(std::fabs(work[i])));
            }
            s.errors = reach > 0 ? core::computeHistogram(work.data(), n, kErrorBins, -reach, reach)
                                 : core::computeHistogram(work.data(), n, kErrorBins);
            s.bitsPerWeight = spec.bitsPerWeight(rows, cols);
            s.valid = true;
        } catch (const std::exception& e) {
            s.failure = QString::fromStdString(e.what());
        }
        return out;
    }));
}

void FormatsView::onDetail() {
    if (!m_detailWatcher->future().isFinished()) return;
    const std::shared_ptr<Detail> r = m_detailWatcher->result();
    if (!r || r->generation != m_detailGeneration) return;
    m_shown = std::move(r->shown);
    drawNumberLine();
    drawError();
    updateExplanation();
    emit detailUpdated();
}

// ---------------------------------------------------------------------------------------------
// The chosen spec

void FormatsView::onCurrentSpecChanged() {
    syncControls();
    updateExplanation();
    if (!m_data) return;
    if (!isVisible()) {
        m_dirty = true; // redone when shown
        return;
    }
    startDetail();
    const core::QuantSpec& spec = m_context->currentSpec();
    if (spec.granularity == core::Granularity::Group && spec.groupSize != m_compareGroup) startCompare();
}

void FormatsView::onRowActivated(const QModelIndex& proxyIndex) {
    if (m_syncingTable || !proxyIndex.isValid()) return;
    const int row = m_proxy->mapToSource(proxyIndex).row();
    if (row < 0 || row >= static_cast<int>(m_model->trials().size())) return;
    core::QuantSpec spec = m_model->trials()[static_cast<std::size_t>(row)].spec;
    // A tensor or channel row does not change the group size the user set.
    if (spec.granularity != core::Granularity::Group && spec.granularity != core::Granularity::Block)
        spec.groupSize = m_context->currentSpec().groupSize;
    m_context->setCurrentSpec(spec);
}

void FormatsView::onFormatPicked(int index) {
    const auto table = core::formatTable();
    if (index < 0 || index >= static_cast<int>(table.size())) return;
    m_context->setCurrentSpec(withFormat(m_context->currentSpec(), table[static_cast<std::size_t>(index)]));
}

void FormatsView::syncControls() {
    const core::QuantSpec& spec = m_context->currentSpec();
    {
        const QSignalBlocker block(m_formatCombo);
        m_formatCombo->setCurrentIndex(m_formatCombo->findText(qstr(core::formatTraits(spec.format).name)));
    }
    const nlohmann::json key = trialKey(spec);
    int row = -1;
    for (std::size_t i = 0; i < m_model->trials().size(); ++i)
        if (trialKey(m_model->trials()[i].spec) == key) row = static_cast<int>(i);
    m_syncingTable = true;
    if (row >= 0) {
        const QModelIndex index = m_proxy->mapFromSource(m_model->index(row, 0));
        m_table->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                              QItemSelectionModel::Rows);
        m_table->scrollTo(index);
    } else {
        m_table->clearSelection();
    }
    m_syncingTable = false;
}

// ---------------------------------------------------------------------------------------------
// Drawing

QString FormatsView::scaleCaption() const {
    const core::QuantSpec& spec = m_shown.spec;
    const core::FormatTraits& f = core::formatTraits(spec.format);
    const NumberLine& line = m_shown.line;
    const QString s = number(line.params.scale);
    const QLocale en(QLocale::English);
    if (f.kind == core::FormatKind::Cast && line.tooDense) // a fact of the drawing, not of the format
        return tr("%1 stores no scale: %2 of its values lie in the layer's range, too dense for ticks (shaded band)")
            .arg(qstr(f.name), en.toString(static_cast<qlonglong>(line.valuesInRange)));
    // The caption is the format row's (core/formats/format_table.cpp), with its placeholders filled.
    QString text = qstr(!spec.symmetric && !f.scaleCaptionAsym.empty() ? f.scaleCaptionAsym : f.scaleCaption);
    text.replace(QStringLiteral("{name}"), qstr(f.name))
        .replace(QStringLiteral("{s}"), s)
        .replace(QStringLiteral("{z}"), number(line.params.zero))
        .replace(QStringLiteral("{e}"), QString::number(line.params.scale > 0 ? std::ilogb(line.params.scale) : 0))
        .replace(QStringLiteral("{block}"), QString::number(f.fixedBlock));
    if (f.kind == core::FormatKind::Cast) return text;
    if (f.kind == core::FormatKind::Integer && spec.symmetric && !spec.fullRange)
        text += tr(" (the lowest code is unused unless full range)");
    if (spec.scaleRule == core::ScaleRule::Percentile)
        text += tr(", range clipped at the %1th percentile").arg(spec.percentile);
    else if (spec.scaleRule == core::ScaleRule::Mse)
        text += tr(", range clipped for the least MSE");
    if (!f.fixedBlock && spec.granularity == core::Granularity::Channel)
        text += QLatin1Char('\n') + tr("Per channel, every row gets its own s");
    else if (!f.fixedBlock && spec.granularity == core::Granularity::Group)
        text += QLatin1Char('\n') + tr("Per group of %1, every group gets its own s").arg(spec.groupSize);
    return text;
}

void FormatsView::drawNumberLine() {
    const bool log = m_log->isChecked();
    const Shown& s = m_shown;
    QVector<double> hk, hv, tk, tv;
    double top = 1;
    m_denseBand->setVisible(false);
    double lo = -1, hi = 1;
    if (s.valid) {
        const core::Histogram& h = log ? s.logValues : s.values;
        for (std::size_t i = 0; i <= h.counts.size() && !h.counts.empty(); ++i) {
            const double edge = h.lo + static_cast<double>(i) * h.binWidth();
            const double count = static_cast<double>(h.counts[std::min(i, h.counts.size() - 1)]);
            hk << (log ? std::pow(10.0, edge) : edge);
            hv << count;
            top = std::max(top, count);
        }
        const std::vector<double> ticks = log ? magnitudes(s.line.values) : s.line.values;
        for (const double v : ticks) {
            tk << v;
            tv << 1.0;
        }
        if (log && !h.counts.empty()) {
            const double dataLo = std::pow(10.0, h.lo), dataHi = std::pow(10.0, h.hi);
            lo = dataLo;
            hi = dataHi;
            if (!ticks.empty()) {
                lo = std::max(std::min(lo, ticks.front()), dataLo * 1e-3);
                hi = std::max(hi, ticks.back());
            }
            lo /= 1.6;
            hi *= 1.6;
        } else if (!log) {
            lo = s.line.range.min;
            hi = s.line.range.max;
            if (!ticks.empty()) {
                lo = std::min(lo, ticks.front());
                hi = std::max(hi, ticks.back());
            }
            const double pad = hi > lo ? 0.04 * (hi - lo) : 1.0;
            lo -= pad;
            hi += pad;
        }
        if (s.line.tooDense) {
            const double bandLo = log ? std::pow(10.0, s.logValues.lo) : s.line.range.min;
            const double bandHi = log ? std::pow(10.0, s.logValues.hi) : s.line.range.max;
            m_denseBand->topLeft->setCoords(bandLo, 1.0);
            m_denseBand->bottomRight->setCoords(bandHi, 0.0);
            m_denseBand->setVisible(true);
        }
    }
    m_valueGraph->setData(hk, hv, true);
    m_tickGraph->setData(tk, tv, true);
    // Many ticks (int8, fp8) get lighter and smaller, so the histogram stays readable behind them.
    const bool crowded = tk.size() > 48;
    m_tickGraph->setPen(QPen(QColor(200, 70, 30, crowded ? 120 : 200), crowded ? 1.0 : 1.3));
    m_tickGraph->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(200, 70, 30, crowded ? 160 : 255), crowded ? 3 : 5));
    setAxisLog(m_linePlot->xAxis, log);
    m_linePlot->xAxis->setLabel(log ? tr("|weight value|  (log scale; zero not shown)") : tr("weight value"));
    m_linePlot->xAxis->setRange(lo, hi);
    m_linePlot->yAxis->setRange(0, top * 1.1);

    const core::FormatTraits& f = core::formatTraits(m_context->currentSpec().format);
    const QLocale en(QLocale::English);
    if (s.valid) {
        const core::FormatTraits& shownFormat = core::formatTraits(s.spec.format);
        m_tickGraph->setName(
            s.line.tooDense
                ? tr("%1 values (%2 in range, shaded)")
                      .arg(qstr(shownFormat.name), en.toString(static_cast<qlonglong>(s.line.valuesInRange)))
                : tr("%1 representable values (%2 ticks)").arg(qstr(shownFormat.name)).arg(tk.size()));
        setWrappedText(m_lineTitle, tr("%1 number line  ·  %2").arg(qstr(shownFormat.name), m_shownLayer));
        setWrappedText(m_lineSubtitle, scaleCaption());
    } else {
        m_tickGraph->setName(tr("%1 representable values").arg(qstr(f.name)));
        if (!m_context->model()) {
            m_lineTitle->setText(tr("No model open"));
            m_lineSubtitle->setText(
                tr("Open a model directory (File ▸ Open model…) or drop it on the window"));
        } else if (m_shownLayer.isEmpty()) {
            m_lineTitle->setText(tr("No layer selected"));
            m_lineSubtitle->setText(tr("Select a layer in the Layers table"));
        } else if (!m_loadError.isEmpty() || !s.failure.isEmpty()) {
            m_lineTitle->setText(m_shownLayer);
            m_lineSubtitle->setText(
                tr("Cannot show it: %1").arg(m_loadError.isEmpty() ? s.failure : m_loadError));
        } else {
            setWrappedText(m_lineTitle, tr("%1 number line  ·  %2").arg(qstr(f.name), m_shownLayer));
            m_lineSubtitle->setText(tr("Computing…"));
        }
    }
    m_linePlot->replot();
}

void FormatsView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    // The subtitles wrap to the plots' new width.
    drawNumberLine();
    drawError();
}

void FormatsView::drawError() {
    const Shown& s = m_shown;
    QVector<double> keys, values;
    double top = 1;
    for (std::size_t i = 0; s.valid && i < s.errors.counts.size(); ++i) {
        keys << s.errors.binCentre(i);
        values << static_cast<double>(s.errors.counts[i]);
        top = std::max(top, values.back());
    }
    m_errorBars->setData(keys, values, true);
    m_errorBars->setWidth(s.valid ? s.errors.binWidth() : 0.1);
    if (s.valid && !s.errors.counts.empty()) {
        const double pad = 0.03 * (s.errors.hi - s.errors.lo);
        m_errorPlot->xAxis->setRange(s.errors.lo - pad, s.errors.hi + pad);
    } else {
        m_errorPlot->xAxis->setRange(-1, 1);
    }
    m_errorPlot->yAxis->setRange(0, top * 1.08);
    const QLocale en(QLocale::English);
    if (s.valid) {
        setWrappedText(m_errorTitle,
            tr("Error of %1:  MSE %2  ·  SQNR %3 dB")
                .arg(qstr(s.spec.label()), QString::number(s.error.mse, 'e', 3), sqnrText(s.error.sqnrDb)));
        setWrappedText(m_errorSubtitle,
                       tr("%1 bits/weight (scales and zero points included)  ·  max |x − x′| %2  ·  "
                          "%3 weights")
                           .arg(s.bitsPerWeight, 0, 'f', 3)
                           .arg(number(s.error.maxAbs, 3),
                                en.toString(static_cast<qlonglong>(m_data ? m_data->size() : 0))));
    } else {
        m_errorTitle->setText(tr("Quantization error x − x′"));
        m_errorSubtitle->setText(m_shownLayer.isEmpty()
                                     ? tr("Select a layer to see the error of the chosen format")
                                     : tr("Computing…"));
    }
    m_errorPlot->replot();
}

void FormatsView::updateExplanation() {
    const core::QuantSpec& spec = m_context->currentSpec();
    const core::FormatTraits& f = core::formatTraits(spec.format);
    const core::FormatFacts facts = core::formatFacts(f);
    const QLocale en(QLocale::English);
    QString html =
        QStringLiteral("<h3 style='margin-bottom:2px'>%1</h3><p style='margin-top:0'><i>%2</i></p>"
                       "<p>%3</p>")
            .arg(qstr(f.name), qstr(f.summary).toHtmlEscaped(), qstr(f.explanation).toHtmlEscaped());
    const auto row = [](const QString& name, const QString& value) {
        return QStringLiteral("<tr><td>%1</td><td style='padding-left:12px' align='right'>%2</td></tr>")
            .arg(name, value);
    };
    html += QStringLiteral("<table cellspacing='0' cellpadding='1'>");
    html += row(tr("Bits per element"), QString::number(facts.bitsPerElement, 'g', 4) +
                                            (f.fixedBlock ? tr(" (incl. block scale)") : QString()));
    html += row(tr("Largest magnitude"), number(facts.maxMagnitude, 6));
    html += row(tr("Smallest positive"), number(facts.minPositive, 6));
    html += row(tr("Dynamic range"), tr("%1 dB").arg(facts.dynamicRangeDb, 0, 'f', 1));
    html += row(tr("Distinct values"), en.toString(static_cast<qlonglong>(facts.distinctValues)));
    html += QStringLiteral("</table>");
    html += tr("<p style='color:#555'>Element grid before scaling.</p>");
    if (m_shown.valid && m_shown.spec.toJson() == spec.toJson())
        html += tr("<p><b>%1</b> on <i>%2</i>: %3 bits/weight, MSE %4, SQNR %5 dB.</p>")
                    .arg(qstr(spec.label()).toHtmlEscaped(), m_shownLayer.toHtmlEscaped())
                    .arg(m_shown.bitsPerWeight, 0, 'f', 3)
                    .arg(QString::number(m_shown.error.mse, 'e', 3), sqnrText(m_shown.error.sqnrDb));
    m_explanation->setHtml(html);
}

void FormatsView::updateStatus() {
    if (m_compareWatcher->isRunning() && m_compareProgress) {
        const long long total = m_compareProgress->total.load(std::memory_order_relaxed);
        const long long done = m_compareProgress->done.load(std::memory_order_relaxed);
        m_status->setText(total > 0 ? tr("Comparing formats… %1/%2").arg(done + 1).arg(total)
                                    : tr("Comparing formats…"));
    } else if (!m_compareError.isEmpty()) {
        m_status->setText(tr("Comparison failed: %1").arg(m_compareError));
    } else if (!m_loadError.isEmpty()) {
        m_status->setText(tr("Cannot read %1: %2").arg(m_shownLayer, m_loadError));
    } else if (m_model->rowCount() > 0) {
        m_status->setText(tr("%1 formats × granularities (group %2), %3 × %4")
                              .arg(m_model->rowCount())
                              .arg(m_compareGroup)
                              .arg(m_rows)
                              .arg(m_cols));
    } else {
        m_status->clear();
    }
}

// ---------------------------------------------------------------------------------------------
// Menus

QString FormatsView::baseName(const QString& what) const {
    QString base = m_shownLayer.isEmpty() ? QStringLiteral("formats") : m_shownLayer;
    base += QLatin1Char('-') + qstr(core::formatTraits(m_context->currentSpec().format).name) +
            QLatin1Char('-') + what;
    base.replace(QLatin1Char('/'), QLatin1Char('_'));
    return base;
}

void FormatsView::showLineMenu(const QPoint& pos) {
    QMenu menu(this);
    QAction* linear = menu.addAction(tr("Linear axis"));
    linear->setCheckable(true);
    linear->setChecked(!isLogAxis());
    connect(linear, &QAction::triggered, this, [this] { setLogAxis(false); });
    QAction* log = menu.addAction(tr("Log |x| axis"));
    log->setCheckable(true);
    log->setChecked(isLogAxis());
    connect(log, &QAction::triggered, this, [this] { setLogAxis(true); });
    menu.addSeparator();
    addPlotExportActions(&menu, m_linePlot, baseName(QStringLiteral("number-line")));
    menu.exec(m_linePlot->mapToGlobal(pos));
}

void FormatsView::showTableMenu(const QPoint& pos) {
    QMenu menu(this);
    const auto copy = [this](bool selectedOnly) {
        QList<int> rows;
        if (selectedOnly) {
            for (const QModelIndex& i : m_table->selectionModel()->selectedRows())
                rows << m_proxy->mapToSource(i).row();
        } else {
            for (int r = 0; r < m_proxy->rowCount(); ++r)
                rows << m_proxy->mapToSource(m_proxy->index(r, 0)).row();
        }
        QApplication::clipboard()->setText(m_model->toCsv(rows));
    };
    QAction* selected = menu.addAction(tr("Copy selected row as CSV"));
    selected->setEnabled(m_table->selectionModel()->hasSelection());
    connect(selected, &QAction::triggered, this, [copy] { copy(true); });
    connect(menu.addAction(tr("Copy table as CSV")), &QAction::triggered, this, [copy] { copy(false); });
    menu.exec(m_table->viewport()->mapToGlobal(pos));
}

} // namespace qs::views
