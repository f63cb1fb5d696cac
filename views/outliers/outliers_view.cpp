// SPDX-License-Identifier: MIT
#include "outliers_view.h"

#include "calib/calib_cache.h"
#include "common/plot_export.h"
#include "nn/causal_lm.h"
#include "store/project.h"

#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <cmath>
#include <qcustomplot.h>

namespace qs::views {

namespace {

constexpr std::size_t kTopChannels = 8;
constexpr int kCalibCtx = 128;
constexpr int kCalibWindows = 8;

// "model.layers.3.self_attn.q_proj.weight" -> "3.q_proj": short enough for a tick label.
QString shortName(const QString& name) {
    QStringList parts = name.split(QLatin1Char('.'));
    if (!parts.isEmpty() && parts.last() == QLatin1String("weight")) parts.removeLast();
    QString layer;
    for (int i = 0; i + 1 < parts.size(); ++i)
        if (parts[i] == QLatin1String("layers") || parts[i] == QLatin1String("h")) layer = parts[i + 1] + QLatin1Char('.');
    return layer + (parts.isEmpty() ? name : parts.last());
}

QCustomPlot* makePlot(QWidget* parent, const QString& name) {
    auto* p = new QCustomPlot(parent);
    p->setObjectName(name);
    p->setMinimumSize(320, 200);
    p->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    p->axisRect()->setRangeZoom(Qt::Horizontal);
    p->axisRect()->setRangeDrag(Qt::Horizontal);
    installPlotExportMenu(p, [name] { return name; });
    return p;
}

void bandLine(QCustomPlot* plot, double y, const QString& text, const QColor& color) {
    auto* line = new QCPItemStraightLine(plot);
    line->point1->setCoords(0, y);
    line->point2->setCoords(1, y);
    line->setPen(QPen(color, 1.2, Qt::DashLine));
    auto* label = new QCPItemText(plot);
    label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(0.995, y);
    label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
    label->setText(text);
    label->setColor(color);
}

} // namespace

OutliersView::OutliersView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_watcher(std::make_unique<QFutureWatcher<std::vector<core::LinearInputStats>>>()) {
    setObjectName(QStringLiteral("outliersView"));
    m_axis = new QComboBox(this);
    m_axis->setObjectName(QStringLiteral("outliersAxis"));
    m_axis->addItem(tr("output channels (rows)"));
    m_axis->addItem(tr("input channels (columns)"));
    m_axis->setToolTip(tr("Per-output-channel scales absorb row outliers; input-channel outliers (often caused "
                          "by activation outliers) hurt every row — the case SmoothQuant and AWQ address"));
    m_activations = new QPushButton(tr("Activation statistics…"), this);
    m_activations->setToolTip(tr("Run the first %1 windows of %2 tokens of a text through the model and collect "
                                 "each Linear input's per-channel statistics (cached)")
                                  .arg(kCalibWindows)
                                  .arg(kCalibCtx));
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Channels"), this));
    controls->addWidget(m_axis);
    controls->addWidget(m_activations);
    controls->addWidget(m_note, 1);

    m_channelPlot = makePlot(this, QStringLiteral("outlierChannels"));
    m_layerPlot = makePlot(this, QStringLiteral("outlierLayers"));
    m_top = new QTableWidget(0, 3, this);
    m_top->setObjectName(QStringLiteral("outlierTop"));
    m_top->setHorizontalHeaderLabels({tr("channel"), tr("max |w|"), tr("× median")});
    m_top->verticalHeader()->setVisible(false);
    m_top->horizontalHeader()->setStretchLastSection(true);
    m_top->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_top->setMaximumWidth(260);

    auto* upper = new QWidget(this);
    auto* upperLayout = new QHBoxLayout(upper);
    upperLayout->setContentsMargins(0, 0, 0, 0);
    upperLayout->addWidget(m_channelPlot, 1);
    upperLayout->addWidget(m_top);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(upper);
    split->addWidget(m_layerPlot);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(split, 1);

    connect(m_axis, &QComboBox::currentIndexChanged, this, &OutliersView::drawChannels);
    connect(m_activations, &QPushButton::clicked, this, &OutliersView::loadActivations);
    connect(m_watcher.get(), &QFutureWatcherBase::finished, this, [this] {
        m_activations->setEnabled(true);
        setActivationStats(m_watcher->result());
    });
    connect(m_layerPlot, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable*, int index, QMouseEvent*) {
        if (index >= 0 && index < static_cast<int>(m_layerNames.size()))
            m_context->setSelectedLayer(m_layerNames[static_cast<std::size_t>(index)]);
    });
    connect(context, &plugins::ViewContext::modelChanged, this, [this] {
        setActivationStats({});
        updateChannels();
    });
    connect(context, &plugins::ViewContext::layersChanged, this, [this] {
        updateChannels();
        drawLayers();
    });
    connect(context, &plugins::ViewContext::selectedLayerChanged, this, [this] {
        updateChannels();
        drawLayers();
    });
    connect(context, &plugins::ViewContext::selectedRunChanged, this, &OutliersView::drawLayers);
    connect(context, &plugins::ViewContext::projectChanged, this, &OutliersView::drawLayers);
    updateChannels();
    drawLayers();
}

OutliersView::~OutliersView() {
    m_watcher->disconnect(this);
    m_watcher->waitForFinished();
}

int OutliersView::topChannelCount() const {
    return m_top->rowCount();
}

void OutliersView::setActivationStats(std::vector<core::LinearInputStats> stats) {
    m_actStats = std::move(stats);
    m_actIndex.clear();
    for (std::size_t i = 0; i < m_actStats.size(); ++i)
        m_actIndex.emplace(m_actStats[i].site, i);
    drawChannels();
    emit activationStatsChanged();
}

const core::LinearInputStats* OutliersView::activationStatsFor(const QString& weightName) const {
    QString site = weightName;
    if (site.endsWith(QLatin1String(".weight"))) site.chop(7);
    const auto it = m_actIndex.find(site.toStdString());
    return it == m_actIndex.end() ? nullptr : &m_actStats[it->second];
}

void OutliersView::loadActivations() {
    const auto model = m_context->model();
    if (!model || m_watcher->isRunning()) return;
    const QString file =
        QFileDialog::getOpenFileName(this, tr("Calibration text"), QString(), tr("Text or tokens (*.txt *.npy);;All (*)"));
    if (!file.isEmpty()) collectActivationStats(file);
}

void OutliersView::collectActivationStats(const QString& file) {
    const auto model = m_context->model();
    if (!model || m_watcher->isRunning()) return;
    m_activations->setEnabled(false);
    m_actError.clear();
    m_note->setText(tr("Collecting activation statistics…"));
    m_watcher->setFuture(QtConcurrent::run([this, model, file]() -> std::vector<core::LinearInputStats> {
        try {
            const auto data = core::loadCalibrationData(file.toStdString(), *model, kCalibCtx, kCalibWindows);
            const core::CausalLm lm(*model);
            return core::cachedModelStats(*model, lm, data, false, {}, {});
        } catch (const std::exception& e) {
            // Read in the GUI thread after finished(); the view waits for the worker in its destructor.
            m_actError = QString::fromStdString(e.what());
            return {};
        }
    }));
}

void OutliersView::updateChannels() {
    m_stats = {};
    m_shownLayer.clear();
    const auto model = m_context->model();
    const core::LayerReport* layer = m_context->findLayer(m_context->selectedLayer());
    if (model && layer && layer->info.shape.size() >= 2) {
        try {
            const auto w = model->weightAsOutIn(layer->info);
            m_stats = weightChannelStats(w.data(), layer->info.matrixRows(), layer->info.matrixCols());
            m_shownLayer = m_context->selectedLayer();
        } catch (const std::exception& e) {
            m_actError = QString::fromStdString(e.what());
        }
    }
    drawChannels();
}

void OutliersView::drawChannels() {
    QCustomPlot* p = m_channelPlot;
    p->clearPlottables();
    p->clearItems();
    m_top->setRowCount(0);
    const bool input = m_axis->currentIndex() == 1;
    const auto& values = input ? m_stats.inAbsMax : m_stats.outAbsMax;
    const auto& bands = input ? m_stats.inBands : m_stats.outBands;
    const core::LinearInputStats* act = m_shownLayer.isEmpty() ? nullptr : activationStatsFor(m_shownLayer);

    QString note;
    if (!m_actError.isEmpty()) note = tr("Activations: %1").arg(m_actError);
    else if (m_actStats.empty()) note = tr("Weights only: load activation statistics to compare with the inputs.");
    else if (!act) note = tr("No activation statistics for this layer.");
    else note = tr("Activations: %1 tokens; switch to input channels to see them beside the weights.").arg(act->samples);
    m_note->setText(note);

    p->xAxis->setLabel(input ? tr("input channel") : tr("output channel"));
    p->yAxis->setLabel(tr("max |w| of the channel"));
    if (values.empty()) {
        p->xAxis->setRange(0, 1);
        p->yAxis->setRange(0, 1);
        p->yAxis2->setVisible(false);
        p->legend->setVisible(false);
        p->replot();
        return;
    }
    const auto top = topChannels(values, kTopChannels);
    QVector<double> k, v, tk, tv;
    for (std::size_t i = 0; i < values.size(); ++i) {
        k << double(i);
        v << values[i];
    }
    for (const auto c : top) {
        tk << double(c);
        tv << values[static_cast<std::size_t>(c)];
    }
    auto* bars = new QCPBars(p->xAxis, p->yAxis);
    bars->setName(tr("weights: max |w| per channel"));
    bars->setData(k, v, true);
    bars->setWidth(1.0);
    bars->setPen(Qt::NoPen);
    bars->setBrush(QColor(0, 114, 178, 190));
    auto* topBars = new QCPBars(p->xAxis, p->yAxis);
    topBars->setName(tr("top %1 channels").arg(top.size()));
    topBars->setData(tk, tv);
    topBars->setWidth(std::max(1.0, values.size() / 150.0)); // visible even among thousands of channels
    topBars->setPen(Qt::NoPen);
    topBars->setBrush(QColor(213, 94, 0));
    bandLine(p, bands.p50, tr("median %1").arg(bands.p50, 0, 'g', 3), QColor(60, 60, 60));
    bandLine(p, bands.p95, tr("95th pct %1").arg(bands.p95, 0, 'g', 3), QColor(120, 120, 120));
    p->xAxis->setRange(-0.5, values.size() - 0.5);
    p->yAxis->setRange(0, bands.p100 * 1.3); // headroom for the legend

    const bool showAct = input && act && act->absMax.size() == values.size();
    p->yAxis2->setVisible(showAct);
    if (showAct) {
        auto* g = p->addGraph(p->xAxis, p->yAxis2);
        g->setName(tr("activations: max |x| per channel"));
        g->setPen(QPen(QColor(0, 158, 115), 1.3));
        QVector<double> av(act->absMax.begin(), act->absMax.end());
        g->setData(k, av, true);
        p->yAxis2->setLabel(tr("max |x| (calibration)"));
        p->yAxis2->setRange(0, *std::max_element(av.begin(), av.end()) * 1.3);
    }
    p->legend->setVisible(true);
    p->replot();

    const double median = bands.p50 > 0 ? bands.p50 : 1.0;
    m_top->setRowCount(static_cast<int>(top.size()));
    for (int r = 0; r < static_cast<int>(top.size()); ++r) {
        const double x = values[static_cast<std::size_t>(top[r])];
        m_top->setItem(r, 0, new QTableWidgetItem(QString::number(top[r])));
        m_top->setItem(r, 1, new QTableWidgetItem(QString::number(x, 'g', 4)));
        m_top->setItem(r, 2, new QTableWidgetItem(QString::number(x / median, 'f', 1)));
    }
    m_top->resizeColumnsToContents();
}

void OutliersView::drawLayers() {
    QCustomPlot* p = m_layerPlot;
    p->clearPlottables();
    p->clearItems();
    m_layerNames.clear();
    QVector<double> k, v, selK, selV;
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (const auto& l : m_context->layers()) {
        if (!l.info.quantizable) continue;
        const QString name = QString::fromStdString(l.info.name);
        const double i = static_cast<double>(m_layerNames.size());
        m_layerNames.push_back(name);
        k << i;
        v << l.stats.kurtosis - 3.0; // drawn from the base value 3 (QCPBars adds the base)
        ticker->addTick(i, shortName(name));
        if (name == m_context->selectedLayer()) {
            selK << i;
            selV << l.stats.kurtosis - 3.0;
        }
    }
    p->xAxis->setTicker(ticker);
    p->xAxis->setTickLabelRotation(m_layerNames.size() > 12 ? 60 : 0);
    p->yAxis->setLabel(tr("kurtosis (3 = Gaussian)"));
    auto* bars = new QCPBars(p->xAxis, p->yAxis);
    bars->setName(tr("kurtosis (before)"));
    bars->setData(k, v, true);
    bars->setWidth(0.8);
    bars->setPen(Qt::NoPen);
    bars->setBrush(QColor(0, 114, 178, 190));
    bars->setBaseValue(3.0); // up from the Gaussian's 3 for heavy tails, down for light ones
    if (!selK.isEmpty()) {
        auto* sel = new QCPBars(p->xAxis, p->yAxis);
        sel->setName(tr("selected layer"));
        sel->setData(selK, selV);
        sel->setWidth(0.8);
        sel->setPen(Qt::NoPen);
        sel->setBrush(QColor(213, 94, 0));
        sel->setBaseValue(3.0);
    }
    if (!v.isEmpty()) bandLine(p, 3.0, tr("Gaussian"), QColor(90, 90, 90));
    p->xAxis->setRange(-0.7, std::max<double>(1, m_layerNames.size()) - 0.3);
    if (v.isEmpty()) {
        p->yAxis->setRange(0, 4);
    } else {
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        const double top = std::max(*hi + 3.0, 3.5), bottom = std::min(*lo + 3.0, 2.5);
        p->yAxis->setRange(bottom - 0.08 * (top - bottom), top + 0.45 * (top - bottom)); // room for the legend
    }

    // "After": the selected run's SQNR per layer, when the project holds its layer rows.
    bool after = false;
    if (m_context->selectedRunId() != 0 && !m_context->projectPath().isEmpty() && !m_layerNames.empty()) {
        try {
            auto project = core::Project::open(m_context->projectPath().toStdString(), false);
            const auto rows = project->layers(m_context->selectedRunId());
            std::map<std::string, double> sqnr;
            for (const auto& r : rows)
                if (r.sqnrDb) sqnr[r.name] = *r.sqnrDb;
            QVector<double> sk, sv;
            for (std::size_t i = 0; i < m_layerNames.size(); ++i) {
                const auto it = sqnr.find(m_layerNames[i].toStdString());
                if (it == sqnr.end()) continue;
                sk << double(i);
                sv << it->second;
            }
            if (!sk.isEmpty()) {
                auto* g = p->addGraph(p->xAxis, p->yAxis2);
                g->setName(tr("SQNR dB of run %1 (after)").arg(m_context->selectedRunId()));
                g->setPen(QPen(QColor(0, 158, 115), 1.5));
                g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
                g->setData(sk, sv, true);
                p->yAxis2->setLabel(tr("SQNR (dB)"));
                const auto [lo, hi] = std::minmax_element(sv.begin(), sv.end());
                p->yAxis2->setRange(*lo - 2, *hi + 2);
                after = true;
            }
        } catch (const std::exception&) {
            // No project rows: only the "before" bars.
        }
    }
    p->yAxis2->setVisible(after);
    p->legend->setVisible(!v.isEmpty());
    p->replot();
}

} // namespace qs::views
