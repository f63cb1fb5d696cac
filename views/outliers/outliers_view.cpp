// SPDX-License-Identifier: MIT
#include "outliers_view.h"

#include "calib/calib_cache.h"
#include "common/layer_names.h"
#include "common/plot_export.h"
#include "common/plot_layout.h"
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
#include <QPointer>
#include <quantscope/plugin/job_service.h>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace qs::views {

namespace {

constexpr std::size_t kTopChannels = 8;
constexpr int kCalibCtx = 128;
constexpr int kCalibWindows = 8;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const QString kNone = QStringLiteral("none");

// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
const QColor kBefore(0, 114, 178), kAfter(213, 94, 0), kTop(204, 121, 167), kActBefore(0, 158, 115),
    kActAfter(230, 159, 0);

QString siteOfWeight(const QString& weightName) {
    QString site = weightName;
    if (site.endsWith(QLatin1String(".weight"))) site.chop(7);
    return site;
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

void bandLine(QCPAxisRect* rect, double y, const QString& text, const QColor& color) {
    QCustomPlot* plot = rect->parentPlot();
    auto* line = new QCPItemStraightLine(plot);
    line->setClipAxisRect(rect);
    for (auto* pos : {line->point1, line->point2})
        pos->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    line->point1->setCoords(0, y);
    line->point2->setCoords(1, y);
    line->setPen(QPen(color, 1.2, Qt::DashLine));
    auto* label = new QCPItemText(plot);
    label->setClipAxisRect(rect);
    label->position->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    label->position->setAxisRect(rect);
    label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(0.995, y);
    label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
    label->setText(text);
    label->setColor(color);
}

// Bars of `values` (finite ones only, drawn from the Gaussian's kurtosis 3) in `rect`, listed in `legend`.
QCPBars* kurtosisBars(QCPAxisRect* rect, QCPLegend* legend, QCPBarsGroup* group,
                      const std::vector<double>& values, const QString& name, const QColor& color) {
    QVector<double> k, v;
    for (std::size_t i = 0; i < values.size(); ++i)
        if (std::isfinite(values[i])) {
            k << double(i);
            v << values[i] - 3.0; // QCPBars adds the base value
        }
    if (k.isEmpty()) return nullptr;
    auto* bars = new QCPBars(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    bars->setName(name);
    bars->setData(k, v, true);
    bars->setWidth(0.4);
    bars->setPen(Qt::NoPen);
    bars->setBrush(color);
    bars->setBaseValue(3.0); // up from the Gaussian's 3 for heavy tails, down for light ones
    bars->setBarsGroup(group);
    bars->removeFromLegend();
    bars->addToLegend(legend);
    return bars;
}

// Lowest and highest finite value of several series (NaN, NaN when none).
std::pair<double, double> finiteRange(std::initializer_list<const std::vector<double>*> series) {
    double lo = kNaN, hi = kNaN;
    for (const auto* s : series)
        for (const double x : *s)
            if (std::isfinite(x)) {
                lo = std::isnan(lo) ? x : std::min(lo, x);
                hi = std::isnan(hi) ? x : std::max(hi, x);
            }
    return {lo, hi};
}

// Light band behind layer `i` of `rect` (added before the bars, so they draw over it).
void highlightLayer(QCPAxisRect* rect, double i) {
    auto* r = new QCPItemRect(rect->parentPlot());
    r->setClipAxisRect(rect);
    for (auto* pos : {r->topLeft, r->bottomRight}) {
        pos->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
        pos->setAxisRect(rect);
        pos->setTypeY(QCPItemPosition::ptAxisRectRatio);
    }
    r->topLeft->setCoords(i - 0.5, 0);
    r->bottomRight->setCoords(i + 0.5, 1);
    r->setPen(Qt::NoPen);
    r->setBrush(QColor(120, 120, 120, 45));
}

// "37: 0.521 (4.1x)" for the top-channel table.
QString channelCell(std::int64_t channel, double value, double median) {
    return QStringLiteral("%1: %2 (%3×)")
        .arg(channel)
        .arg(value, 0, 'g', 3)
        .arg(median > 0 ? value / median : 0.0, 0, 'f', 1);
}

} // namespace

OutliersView::OutliersView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context) {
    setObjectName(QStringLiteral("outliersView"));
    m_axis = new QComboBox(this);
    m_axis->setObjectName(QStringLiteral("outliersAxis"));
    m_axis->addItem(tr("output channels (rows)"));
    m_axis->addItem(tr("input channels (columns)"));
    m_axis->setToolTip(
        tr("Per-output-channel scales absorb row outliers; input-channel outliers (often caused "
           "by activation outliers) hurt every row — the case SmoothQuant and AWQ address"));
    m_method = new QComboBox(this);
    m_method->setObjectName(QStringLiteral("outliersMethod"));
    m_method->addItem(tr("none (selected run's SQNR)"), kNone);
    m_method->setItemData(
        0, tr("No transform: the layer plot shows the selected run's per-layer SQNR beside the kurtosis"),
        Qt::ToolTipRole);
    for (const core::ModelTransform* t : m_context->registries().transforms.all()) {
        const QString name = QString::fromStdString(std::string(t->name()));
        m_method->addItem(name.toUpper(), name); // the toolbar and Sweep dialog spell transforms so too
        m_method->setItemData(m_method->count() - 1, QString::fromStdString(std::string(t->summary())),
                              Qt::ToolTipRole);
    }
    m_method->setToolTip(
        tr("The \"after\" side: the model's weights and activations after this transform (default "
           "parameters; activations from the calibration text)"));
    // Long item texts: the combos show what fits and list the whole texts, so the view stays narrow.
    for (QComboBox* c : {m_axis, m_method}) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(12);
    }
    m_activations = new QPushButton(tr("Activation statistics"), this);
    m_activations->setObjectName(QStringLiteral("outliersActivations"));
    m_note = new QLabel(this);
    m_note->setObjectName(QStringLiteral("outliersNote"));
    m_note->setWordWrap(true);
    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Channels"), this));
    controls->addWidget(m_axis);
    controls->addWidget(new QLabel(tr("After"), this));
    controls->addWidget(m_method);
    controls->addWidget(m_activations);
    controls->addWidget(m_note, 1);

    m_channelPlot = makePlot(this, QStringLiteral("outlierChannels"));
    m_layerPlot = makePlot(this, QStringLiteral("outlierLayers"));
    // Two rows sharing the layer axis: weights above, activations below.
    m_actRect = new QCPAxisRect(m_layerPlot);
    m_layerPlot->plotLayout()->addElement(1, 0, m_actRect);
    auto* margins = new QCPMarginGroup(m_layerPlot);
    m_layerPlot->axisRect()->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    m_actRect->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    m_actRect->setRangeZoom(Qt::Horizontal);
    m_actRect->setRangeDrag(Qt::Horizontal);
    m_actLegend = new QCPLegend;
    m_actRect->insetLayout()->addElement(m_actLegend, Qt::AlignTop | Qt::AlignRight);
    m_actLegend->setLayer(QStringLiteral("legend"));
    // Each legend in a row under its bars, never over them (the 384-channel plot had no room to spare).
    placeLegendBelow(m_actLegend, m_actRect);
    placeLegendBelow(m_layerPlot->legend, m_layerPlot->axisRect());
    placeLegendBelow(m_channelPlot->legend, m_channelPlot->axisRect(), 2); // long names in a narrow plot
    // Before and after bars side by side at each layer (groups outlive the bars redrawn in them).
    m_weightGroup = new QCPBarsGroup(m_layerPlot);
    m_actGroup = new QCPBarsGroup(m_layerPlot);
    for (auto* g : {m_weightGroup, m_actGroup})
        g->setSpacing(0);
    m_actRect->axis(QCPAxis::atLeft)->setScaleType(QCPAxis::stLogarithmic);
    m_actRect->axis(QCPAxis::atLeft)->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    m_actRect->axis(QCPAxis::atLeft)->setNumberFormat(QStringLiteral("gb"));
    // Dragging / zooming one row moves the other.
    connect(m_layerPlot->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged),
            m_actRect->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::setRange));
    connect(m_actRect->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::rangeChanged),
            m_layerPlot->xAxis, qOverload<const QCPRange&>(&QCPAxis::setRange));

    m_top = new QTableWidget(0, 2, this);
    m_top->setObjectName(QStringLiteral("outlierTop"));
    m_top->verticalHeader()->setVisible(false);
    m_top->horizontalHeader()->setStretchLastSection(true);
    m_top->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_top->setMaximumWidth(560);
    m_top->setMinimumWidth(260); // the channel plot beside it keeps most of a narrow view

    auto* upper = new QWidget(this);
    auto* upperLayout = new QHBoxLayout(upper);
    upperLayout->setContentsMargins(0, 0, 0, 0);
    upperLayout->addWidget(m_channelPlot, 1);
    upperLayout->addWidget(m_top);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(upper);
    split->addWidget(m_layerPlot);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(split, 1);

    connect(m_axis, &QComboBox::currentIndexChanged, this, &OutliersView::drawChannels);
    connect(m_method, &QComboBox::currentIndexChanged, this, &OutliersView::computeAfter);
    connect(m_activations, &QPushButton::clicked, this, &OutliersView::loadActivations);
    plugins::JobService* jobs = m_context->jobs();
    connect(jobs, &plugins::JobService::finished, this, &OutliersView::onJobFinished);
    connect(jobs, &plugins::JobService::started, this, &OutliersView::updateActivationsButton);
    connect(jobs, &plugins::JobService::progress, this, [this, jobs](long long, long long, const QString& message) {
        if (m_ownJob == OwnJob::None) return;
        m_progress = jobs->what() + QStringLiteral(": ") + message;
        showNote();
    });
    connect(context, &plugins::ViewContext::dataChanged, this, &OutliersView::updateActivationsButton);
    connect(m_layerPlot, &QCustomPlot::plottableClick, this,
            [this](QCPAbstractPlottable* p, int index, QMouseEvent*) {
                if (!p->interface1D() || index < 0 || index >= p->interface1D()->dataCount()) return;
                const auto i = static_cast<std::size_t>(std::lround(p->interface1D()->dataMainKey(index)));
                if (i < m_layerNames.size()) m_context->setSelectedLayer(m_layerNames[i]);
            });
    connect(context, &plugins::ViewContext::modelChanged, this, [this] {
        m_calibFile.clear();
        m_siteOf.clear();
        setActivationStats({});
        updateChannels();
        computeAfter();
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

OutliersView::~OutliersView() = default;

int OutliersView::topChannelCount() const {
    return m_top->rowCount();
}

void OutliersView::setActivationStats(std::vector<core::LinearInputStats> stats) {
    m_actStats = std::move(stats);
    m_actIndex.clear();
    for (std::size_t i = 0; i < m_actStats.size(); ++i)
        m_actIndex.emplace(m_actStats[i].site, i);
    drawChannels();
    drawLayers();
    emit activationStatsChanged();
}

const core::LinearInputStats* OutliersView::activationStatsFor(const QString& weightName) const {
    // k/v (up) share the q (gate) input: the site is known once statistics were collected here.
    const auto site = m_siteOf.find(weightName.toStdString());
    const auto it =
        m_actIndex.find(site != m_siteOf.end() ? site->second : siteOfWeight(weightName).toStdString());
    return it == m_actIndex.end() ? nullptr : &m_actStats[it->second];
}

void OutliersView::setMethod(const QString& method) {
    const int i = m_method->findData(method);
    if (i >= 0) m_method->setCurrentIndex(i);
}

QString OutliersView::method() const {
    return m_method->currentData().toString();
}

// The data the user chose for the model (toolbar ▸ Data): calibration text, else the evaluation text.
static QString chosenText(const plugins::ChosenData& data) {
    return !data.calibration.isEmpty() ? data.calibration : data.evaluation;
}

void OutliersView::updateActivationsButton() {
    const QString file = chosenText(m_context->data());
    const QString what = tr("Run the first %1 windows of %2 tokens of a text through the model and collect each "
                            "Linear input's per-channel statistics (cached)")
                             .arg(kCalibWindows)
                             .arg(kCalibCtx);
    m_activations->setText(file.isEmpty() ? tr("Activation statistics…") : tr("Activation statistics"));
    m_activations->setToolTip(file.isEmpty() ? what + tr(": choose the text (or choose calibration data in the "
                                                        "toolbar's Data menu)")
                                             : what + tr(" from %1").arg(file));
    m_activations->setEnabled(m_context->model() && !m_context->jobs()->isRunning());
}

void OutliersView::loadActivations() {
    if (!m_context->model()) return;
    QString file = chosenText(m_context->data());
    if (file.isEmpty())
        file = QFileDialog::getOpenFileName(this, tr("Calibration text"), QString(),
                                            tr("Text or tokens (*.txt *.npy);;All (*)"));
    if (!file.isEmpty()) collectActivationStats(file);
}

bool OutliersView::collectActivationStats(const QString& file) {
    const auto model = m_context->model();
    plugins::JobService* jobs = m_context->jobs();
    if (!model) return false;
    if (jobs->isRunning()) {
        m_actError = tr("a job is running (Jobs dock): wait for it or cancel it");
        showNote();
        return false;
    }
    m_actError.clear();
    m_calibFile = file;
    m_progress = tr("Collecting activation statistics… (Jobs dock)");
    showNote();
    const core::Registries& registries = m_context->registries();
    // The result goes to the view only if it still exists when the job ends.
    QPointer<OutliersView> self(this);
    auto work = [self, model, file, &registries](const core::JobContext& ctx) -> std::function<void()> {
        const auto data = core::loadCalibrationData(file.toStdString(), model->path(), kCalibCtx, kCalibWindows);
        // The empty chain: the model's inputs through core's calibration cache, plus which site feeds each
        // weight.
        auto before = std::make_shared<core::TransformedStats>(
            core::transformedStats(*model, registries.transforms, {}, &data, {}, ctx));
        return [self, before] {
            if (!self) return;
            self->m_siteOf.clear();
            for (const auto& l : before->linears)
                self->m_siteOf.emplace(l.weight, l.site);
            self->setActivationStats(std::move(before->inputs));
        };
    };
    auto onEnd = [self, jobs](plugins::JobState state, const QString&) {
        if (!self) return;
        self->m_ownJob = OwnJob::None;
        self->m_progress.clear();
        self->m_actError.clear(); // a refusal while it ran is old news
        if (state != plugins::JobState::Succeeded) {
            self->m_actError = state == plugins::JobState::Cancelled ? tr("cancelled") : jobs->error();
            self->m_calibFile.clear();
            self->setActivationStats({});
        }
        // The after side gains the same text's activations once the job service is free.
        if (self->method() != kNone) self->m_afterPending = true;
        self->showNote();
    };
    m_ownJob = OwnJob::Collect;
    if (jobs->start({tr("Collecting activation statistics"), tr("Activation statistics"), tr("step"), work, onEnd}))
        return true;
    m_ownJob = OwnJob::None;
    return false;
}

void OutliersView::onJobFinished() {
    updateActivationsButton();
    if (m_afterPending) computeAfter(); // a job started by a later finished() handler keeps it pending
}

void OutliersView::computeAfter() {
    plugins::JobService* jobs = m_context->jobs();
    const QString method = this->method();
    const auto model = m_context->model();
    const core::ModelTransform* t = m_context->registries().transforms.find(method.toStdString());
    const bool wanted = method != kNone && model && t && !(t->needsCalibration() && m_calibFile.isEmpty());
    if (wanted && jobs->isRunning()) {
        // One job at a time: an earlier "after" of this view is cancelled, anything else is waited for.
        m_afterPending = true;
        if (m_ownJob == OwnJob::After) jobs->cancel();
        m_progress = tr("After %1: waits for the running job (Jobs dock)").arg(method);
        showNote();
        return;
    }
    m_afterPending = false;
    m_after.reset();
    m_afterError.clear();
    if (!wanted) {
        if (method != kNone && t && model)
            m_afterError = tr("%1 needs calibration data: collect activation statistics first.").arg(method);
        m_progress.clear();
        showNote();
        drawLayers();
        drawChannels();
        emit afterStatsChanged();
        return;
    }
    const QString file = m_calibFile;
    const core::Registries& registries = m_context->registries();
    QPointer<OutliersView> self(this);
    auto work = [self, model, method, file, &registries](const core::JobContext& ctx) -> std::function<void()> {
        std::optional<core::CalibrationData> data;
        if (!file.isEmpty()) data = core::loadCalibrationData(file.toStdString(), model->path(), kCalibCtx, kCalibWindows);
        auto stats = std::make_shared<core::TransformedStats>(core::transformedStats(
            *model, registries.transforms, {{method.toStdString(), {}}}, data ? &*data : nullptr, {}, ctx));
        return [self, stats] {
            if (self) self->m_after = std::move(*stats);
        };
    };
    auto onEnd = [self, jobs](plugins::JobState state, const QString&) {
        if (!self) return;
        self->m_ownJob = OwnJob::None;
        self->m_progress.clear();
        if (self->m_afterPending) return; // another method was chosen meanwhile: computed next
        if (state == plugins::JobState::Cancelled) self->m_afterError = tr("cancelled");
        if (state == plugins::JobState::Failed) self->m_afterError = jobs->error();
        self->showNote();
        self->drawLayers();
        self->drawChannels();
        emit self->afterStatsChanged();
    };
    m_progress = tr("%1: applying the transform… (Jobs dock)").arg(method);
    showNote();
    m_ownJob = OwnJob::After;
    if (!jobs->start({tr("Outliers after %1").arg(method), method, tr("step"), work, onEnd})) m_ownJob = OwnJob::None;
}

void OutliersView::showNote() {
    QStringList parts;
    if (!m_progress.isEmpty()) parts << m_progress;
    if (!m_actError.isEmpty()) parts << tr("Activations: %1").arg(m_actError);
    if (!m_afterError.isEmpty()) parts << tr("After %1: %2").arg(method(), m_afterError);
    if (parts.isEmpty()) {
        const core::LinearInputStats* act =
            m_shownLayer.isEmpty() ? nullptr : activationStatsFor(m_shownLayer);
        if (m_actStats.empty())
            parts << tr("Weights only: load activation statistics to compare with the inputs.");
        else if (!act)
            parts << tr("No activation statistics for this layer.");
        else
            parts << tr("Activations: %1 tokens; input channels show them beside the weights.")
                         .arg(act->samples);
        if (m_after) parts << tr("After: %1 (default parameters).").arg(method());
    }
    m_note->setText(parts.join(QStringLiteral(" · ")));
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
    showNote();
    const bool input = m_axis->currentIndex() == 1;
    const auto& values = input ? m_stats.inAbsMax : m_stats.outAbsMax;
    const auto& bands = input ? m_stats.inBands : m_stats.outBands;
    const core::LinearInputStats* act = m_shownLayer.isEmpty() ? nullptr : activationStatsFor(m_shownLayer);
    const core::WeightChannels* wAfter = m_after ? m_after->linear(m_shownLayer.toStdString()) : nullptr;
    const core::LinearInputStats* actAfter = wAfter ? m_after->input(wAfter->site) : nullptr;
    const std::vector<double>* after = wAfter ? (input ? &wAfter->inAbsMax : &wAfter->outAbsMax) : nullptr;
    if (after && after->size() != values.size()) after = nullptr;

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
    bars->setBrush(QColor(kBefore.red(), kBefore.green(), kBefore.blue(), 190));
    auto* topBars = new QCPBars(p->xAxis, p->yAxis);
    topBars->setName(tr("top %1 channels").arg(top.size()));
    topBars->setData(tk, tv);
    topBars->setWidth(std::max(1.0, values.size() / 150.0)); // visible even among thousands of channels
    topBars->setPen(Qt::NoPen);
    topBars->setBrush(kTop);
    double yMax = bands.p100;
    if (after) {
        auto* g = p->addGraph(p->xAxis, p->yAxis);
        g->setName(tr("weights after %1").arg(method()));
        g->setLineStyle(QCPGraph::lsStepCenter);
        g->setPen(QPen(kAfter, 1.3));
        g->setData(k, QVector<double>(after->begin(), after->end()), true);
        yMax = std::max(yMax, *std::max_element(after->begin(), after->end()));
    }
    bandLine(p->axisRect(), bands.p50, tr("median %1").arg(bands.p50, 0, 'g', 3), QColor(60, 60, 60));
    bandLine(p->axisRect(), bands.p95, tr("95th pct %1").arg(bands.p95, 0, 'g', 3), QColor(120, 120, 120));
    p->xAxis->setRange(-0.5, values.size() - 0.5);
    p->yAxis->setRange(0, yMax * 1.05);

    const bool showAct = input && act && act->absMax.size() == values.size();
    const bool showActAfter = input && actAfter && actAfter->absMax.size() == values.size();
    p->yAxis2->setVisible(showAct || showActAfter);
    double aMax = 0;
    for (const auto& [stats, shown, name, color] :
         {std::tuple{act, showAct, tr("activations: max |x| per channel"), kActBefore},
          std::tuple{actAfter, showActAfter, tr("activations after %1").arg(method()), kActAfter}}) {
        if (!shown) continue;
        auto* g = p->addGraph(p->xAxis, p->yAxis2);
        g->setName(name);
        g->setPen(QPen(color, 1.3));
        g->setData(k, QVector<double>(stats->absMax.begin(), stats->absMax.end()), true);
        aMax = std::max(aMax, *std::max_element(stats->absMax.begin(), stats->absMax.end()));
    }
    // The p99 of each channel beside its max tells a rare spike (max far above p99) from a channel
    // that is large on most tokens (p99 close to max), which is what clipping or smoothing can fix.
    constexpr std::size_t kP99 = 2; // index of 99 in LinearInputStats::kAbsPercentileLevels
    static_assert(core::LinearInputStats::kAbsPercentileLevels[kP99] == 99.0);
    const std::size_t levels = core::LinearInputStats::kAbsPercentileLevels.size();
    if (showAct && act->absPercentiles.size() == values.size() * levels) {
        QVector<double> p99;
        for (std::size_t c = 0; c < values.size(); ++c)
            p99 << act->absPercentiles[c * levels + kP99];
        auto* g = p->addGraph(p->xAxis, p->yAxis2);
        g->setName(tr("activations: p99 |x| per channel"));
        g->setPen(QPen(kActBefore.darker(140), 1.0, Qt::DashLine));
        g->setData(k, p99, true);
    }
    if (aMax > 0) {
        p->yAxis2->setLabel(tr("max |x| (calibration)"));
        p->yAxis2->setRange(0, aMax * 1.05);
    }
    p->legend->setVisible(true);
    p->replot();

    // The top channels of each series shown, before and after side by side.
    std::vector<std::pair<QString, const std::vector<double>*>> columns{{tr("max |w| before"), &values}};
    if (after) columns.emplace_back(tr("max |w| after"), after);
    if (showAct) columns.emplace_back(tr("max |x| before"), &act->absMax);
    if (showActAfter) columns.emplace_back(tr("max |x| after"), &actAfter->absMax);
    m_top->setColumnCount(static_cast<int>(columns.size()));
    QStringList headers;
    for (const auto& c : columns)
        headers << c.first;
    m_top->setHorizontalHeaderLabels(headers);
    m_top->setRowCount(static_cast<int>(kTopChannels));
    m_top->setToolTip(tr("channel: max (× the median channel)"));
    for (int c = 0; c < static_cast<int>(columns.size()); ++c) {
        const auto& series = *columns[static_cast<std::size_t>(c)].second;
        const double median = percentile(series, 50);
        const auto best = topChannels(series, kTopChannels);
        for (int r = 0; r < static_cast<int>(best.size()); ++r)
            m_top->setItem(r, c,
                           new QTableWidgetItem(
                               channelCell(best[r], series[static_cast<std::size_t>(best[r])], median)));
    }
    m_top->resizeColumnsToContents();
    int width = 2 * m_top->frameWidth() + 4; // wide enough for every column, up to the maximum width
    for (int c = 0; c < m_top->columnCount(); ++c)
        width += m_top->columnWidth(c);
    m_top->setMinimumWidth(std::min(width, 300)); // wider columns scroll inside the table
}

void OutliersView::drawLayers() {
    QCustomPlot* p = m_layerPlot;
    m_actLegend->clearItems(); // QCustomPlot only unlists deleted plottables from its main legend
    p->clearPlottables();
    p->clearItems();
    m_layerNames.clear();
    m_kurtosis = {};
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (const auto& l : m_context->layers()) {
        if (!l.info.quantizable) continue;
        const QString name = QString::fromStdString(l.info.name);
        ticker->addTick(static_cast<double>(m_layerNames.size()), shortLayerName(name));
        m_layerNames.push_back(name);
        m_kurtosis.names.push_back(name);
        m_kurtosis.weightsBefore.push_back(l.stats.kurtosis);
        const core::LinearInputStats* act = activationStatsFor(name);
        m_kurtosis.actBefore.push_back(act ? core::activationKurtosis(*act) : kNaN);
        const core::WeightChannels* w = m_after ? m_after->linear(l.info.name) : nullptr;
        const core::LinearInputStats* actAfter = w ? m_after->input(w->site) : nullptr;
        m_kurtosis.weightsAfter.push_back(w ? w->kurtosis : kNaN);
        m_kurtosis.actAfter.push_back(actAfter ? core::activationKurtosis(*actAfter) : kNaN);
    }
    const auto selected = std::find(m_layerNames.begin(), m_layerNames.end(), m_context->selectedLayer());
    const double n = std::max<double>(1, m_layerNames.size());
    const QString afterName = tr("after %1").arg(method());

    // Upper row: weights.
    QCPAxisRect* wRect = p->axisRect(0);
    if (selected != m_layerNames.end()) highlightLayer(wRect, double(selected - m_layerNames.begin()));
    QCPBarsGroup* wGroup = m_weightGroup;
    p->xAxis->setTicker(ticker);
    p->xAxis->setTickLabels(false); // the lower row names the layers
    p->yAxis->setLabel(tr("weight kurtosis"));
    kurtosisBars(wRect, p->legend, wGroup, m_kurtosis.weightsBefore, tr("weights before"), kBefore);
    kurtosisBars(wRect, p->legend, wGroup, m_kurtosis.weightsAfter, tr("weights %1").arg(afterName), kAfter);
    const auto [wLo, wHi] = finiteRange({&m_kurtosis.weightsBefore, &m_kurtosis.weightsAfter});
    if (std::isnan(wLo)) {
        p->yAxis->setRange(0, 4);
    } else {
        bandLine(wRect, 3.0, tr("Gaussian"), QColor(90, 90, 90));
        const double top = std::max(wHi, 3.5), bottom = std::min(wLo, 2.5);
        p->yAxis->setRange(bottom - 0.08 * (top - bottom), top + 0.08 * (top - bottom));
    }
    p->xAxis->setRange(-0.7, n - 0.3);
    drawRunSqnr(wRect);
    p->legend->setVisible(!std::isnan(wLo));

    // Lower row: activations (log scale: a channel with rare massive values reaches the hundreds).
    QCPAxisRect* aRect = m_actRect;
    QCPAxis* aX = aRect->axis(QCPAxis::atBottom);
    QCPAxis* aY = aRect->axis(QCPAxis::atLeft);
    QCPLegend* aLegend = m_actLegend;
    if (selected != m_layerNames.end()) highlightLayer(aRect, double(selected - m_layerNames.begin()));
    QCPBarsGroup* aGroup = m_actGroup;
    aX->setTicker(ticker);
    aX->setTickLabelRotation(m_layerNames.size() > 12 ? 60 : 0);
    aY->setLabel(tr("max channel kurtosis of the input"));
    kurtosisBars(aRect, aLegend, aGroup, m_kurtosis.actBefore, tr("activations before"), kActBefore);
    kurtosisBars(aRect, aLegend, aGroup, m_kurtosis.actAfter, tr("activations %1").arg(afterName), kActAfter);
    const auto [aLo, aHi] = finiteRange({&m_kurtosis.actBefore, &m_kurtosis.actAfter});
    aX->setRange(-0.7, n - 0.3);
    if (std::isnan(aLo)) {
        aY->setRange(1, 10);
        auto* text = new QCPItemText(p);
        text->setClipAxisRect(aRect);
        text->position->setAxisRect(aRect);
        text->position->setType(QCPItemPosition::ptAxisRectRatio);
        text->position->setCoords(0.5, 0.5);
        text->setText(
            tr("No activation statistics: use \"Activation statistics…\" to see the inputs' kurtosis"));
        text->setColor(QColor(90, 90, 90));
    } else {
        bandLine(aRect, 3.0, tr("Gaussian"), QColor(90, 90, 90));
        aY->setRange(std::min(aLo, 2.0) * 0.8, std::max(aHi, 4.0) * 1.5);
    }
    aLegend->setVisible(!std::isnan(aLo));
    p->replot();
}

void OutliersView::drawRunSqnr(QCPAxisRect* rect) {
    // With no transform chosen, "after" is the selected run's SQNR per layer when the project holds its rows.
    QCPAxis* y2 = rect->axis(QCPAxis::atRight);
    bool shown = false;
    if (method() == kNone && m_context->selectedRunId() != 0 && !m_context->projectPath().isEmpty() &&
        !m_layerNames.empty()) {
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
                auto* g = m_layerPlot->addGraph(rect->axis(QCPAxis::atBottom), y2);
                g->setName(tr("SQNR dB of run %1 (after)").arg(m_context->selectedRunId()));
                g->setPen(QPen(kActBefore, 1.5));
                g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
                g->setData(sk, sv, true);
                y2->setLabel(tr("SQNR (dB)"));
                const auto [lo, hi] = std::minmax_element(sv.begin(), sv.end());
                y2->setRange(*lo - 2, *hi + 2);
                shown = true;
            }
        } catch (const std::exception&) {
            // No project rows: only the "before" bars.
        }
    }
    y2->setVisible(shown);
}

} // namespace qs::views
