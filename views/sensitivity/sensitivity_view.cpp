// SPDX-License-Identifier: MIT
#include "sensitivity_view.h"

#include "mixed_precision_dialog.h"

#include "analysis/sensitivity_analysis.h"
#include "common/layer_names.h"
#include "common/param_form.h"
#include "common/plot_export.h"
#include "experiment/analysis_run.h"
#include "store/project.h"

#include <QComboBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>
#include <cmath>
#include <qcustomplot.h>
#include <quantscope/plugin/job_service.h>

namespace qs::views {
namespace {

constexpr int kSetCtx = 128; // tokens per window of the sensitivity set

struct Metric {
    const char* key;
    const char* label;
    bool log;      ///< colour by log10 (values spanning decades)
    bool diverging; ///< signed: colour symmetric around 0
};
const Metric kMetrics[] = {{"kld", QT_TRANSLATE_NOOP("SensitivityView", "KL to fp32 (log10)"), true, false},
                           {"delta_loss", QT_TRANSLATE_NOOP("SensitivityView", "change of loss (nats)"), false, true},
                           {"top1", QT_TRANSLATE_NOOP("SensitivityView", "top-1 disagreement"), false, false},
                           {"local_error", QT_TRANSLATE_NOOP("SensitivityView", "local error tr(dW XtX dWᵀ) (log10)"), true, false},
                           {"hawq", QT_TRANSLATE_NOOP("SensitivityView", "HAWQ score (log10)"), true, false},
                           {"gradient", QT_TRANSLATE_NOOP("SensitivityView", "gradient score Σ(∂L/∂Y·ΔY)² (log10)"), true, false}};

const std::vector<std::vector<double>>* table(const core::SensitivityResult& r, const QString& key) {
    if (key == QLatin1String("kld")) return &r.kld;
    if (key == QLatin1String("delta_loss")) return &r.deltaLoss;
    if (key == QLatin1String("top1")) return &r.top1;
    if (key == QLatin1String("local_error")) return &r.localError;
    if (key == QLatin1String("hawq") && !r.hawqScore.empty()) return &r.hawqScore;
    if (key == QLatin1String("gradient") && !r.gradientScore.empty()) return &r.gradientScore;
    return nullptr;
}

// Blue below zero, white at zero, vermillion above (Okabe-Ito ends): signed terms read at a glance.
QCPColorGradient divergingGradient() {
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(0, 114, 178));
    g.setColorStopAt(0.5, QColor(255, 255, 255));
    g.setColorStopAt(1.0, QColor(213, 94, 0));
    return g;
}

// "0.q+k+v_proj" for "model.layers.0.self_attn.q_proj+k_proj+v_proj": the shared suffix said once.
QString groupLabel(const core::DecisionGroup& g) {
    QString name = shortLayerName(QString::fromStdString(g.name));
    const QStringList parts = name.split(QLatin1Char('+'));
    if (parts.size() < 2) return name;
    const QString suffix = QStringLiteral("_proj");
    for (const QString& p : parts)
        if (!p.endsWith(suffix)) return name;
    QStringList heads;
    for (const QString& p : parts) heads << p.chopped(suffix.size());
    return heads.join(QLatin1Char('+')) + suffix;
}

// A colour map with its scale in a row under the data (never beside it: the data keeps the width).
QCPColorMap* colourMap(QCustomPlot* plot, const QCPColorGradient& gradient, const QString& label) {
    plot->clearPlottables();
    auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
    QCPColorScale* scale = nullptr;
    for (QCPLayoutElement* e : plot->plotLayout()->elements(false))
        if (auto* s = qobject_cast<QCPColorScale*>(e)) scale = s;
    if (!scale) {
        scale = new QCPColorScale(plot);
        plot->plotLayout()->addElement(1, 0, scale);
        scale->setType(QCPAxis::atBottom);
        auto* margins = new QCPMarginGroup(plot);
        plot->axisRect()->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
        scale->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    }
    scale->axis()->setLabel(label);
    map->setColorScale(scale);
    map->setGradient(gradient);
    map->setInterpolate(false);
    return map;
}

} // namespace

SensitivityView::SensitivityView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context), m_analyses(new QComboBox(this)), m_metric(new QComboBox(this)),
      m_measure(new QPushButton(tr("Measure"), this)), m_plan(new QPushButton(tr("Mixed precision…"), this)),
      m_form(new ParamForm(this)), m_setWindows(new QSpinBox(this)), m_note(new QLabel(this)), m_heatmap(new QCustomPlot(this)),
      m_pairs(new QCustomPlot(this)) {
    setObjectName(QStringLiteral("sensitivityView"));
    m_analyses->setObjectName(QStringLiteral("sensitivityAnalyses"));
    m_analyses->setToolTip(tr("Stored sensitivity analyses of the open project"));
    m_metric->setObjectName(QStringLiteral("sensitivityMetric"));
    for (const Metric& m : kMetrics) m_metric->addItem(tr(m.label), QString::fromLatin1(m.key));
    m_measure->setObjectName(QStringLiteral("sensitivityMeasure"));
    m_measure->setToolTip(tr("Measure every decision group at every candidate on the calibration data (a job)"));
    m_plan->setObjectName(QStringLiteral("sensitivityPlan"));
    m_plan->setToolTip(tr("Choose a format per group under a budget: CLADO, HAWQ ILP, ModelOpt-style, greedy"));
    m_form->setObjectName(QStringLiteral("sensitivityForm"));
    m_form->setSchema(context->registries().analyses.get("sensitivity", "analysis").params());
    m_setWindows->setObjectName(QStringLiteral("sensitivitySetWindows"));
    m_setWindows->setRange(1, 1 << 16);
    m_setWindows->setValue(16);
    m_setWindows->setToolTip(tr("Windows of 128 tokens from the start of the calibration data: the fixed set every "
                                "measurement uses (more: steadier figures, longer)"));
    m_note->setObjectName(QStringLiteral("sensitivityNote"));
    m_note->setWordWrap(true);
    m_heatmap->setObjectName(QStringLiteral("sensitivityHeatmap"));
    m_pairs->setObjectName(QStringLiteral("sensitivityPairs"));
    for (QCustomPlot* p : {m_heatmap, m_pairs}) {
        p->setMinimumSize(240, 200);
        p->yAxis->setRangeReversed(true); // the first layer on top, as in the layer table
    }
    installPlotExportMenu(m_heatmap, [] { return QStringLiteral("sensitivity"); });
    installPlotExportMenu(m_pairs, [] { return QStringLiteral("clado_pairs"); });

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Analysis:"), this));
    bar->addWidget(m_analyses, 1);
    bar->addWidget(new QLabel(tr("Colour:"), this));
    bar->addWidget(m_metric);
    bar->addWidget(m_plan);
    auto* formBox = new QGroupBox(tr("Measure on the calibration data"), this);
    auto* formLayout = new QVBoxLayout(formBox);
    auto* setRow = new QHBoxLayout;
    setRow->addWidget(new QLabel(tr("Set windows:"), this));
    setRow->addWidget(m_setWindows);
    formLayout->addLayout(setRow);
    formLayout->addWidget(m_form);
    formLayout->addWidget(m_measure);
    formLayout->addStretch(1);
    formBox->setMaximumWidth(340);
    auto* plots = new QSplitter(Qt::Vertical, this);
    plots->addWidget(m_heatmap);
    plots->addWidget(m_pairs);
    auto* body = new QHBoxLayout;
    body->addWidget(formBox);
    body->addWidget(plots, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addWidget(m_note);
    layout->addLayout(body, 1);

    connect(m_measure, &QPushButton::clicked, this, &SensitivityView::measure);
    connect(m_plan, &QPushButton::clicked, this, &SensitivityView::openPlanner);
    connect(m_metric, &QComboBox::currentIndexChanged, this, &SensitivityView::redraw);
    connect(m_analyses, &QComboBox::activated, this,
            [this](int index) { showAnalysis(m_analyses->itemData(index).toLongLong()); });
    connect(m_heatmap, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
        if (m_heatmap->axisRect()->rect().contains(e->pos()))
            selectGroup(static_cast<int>(std::lround(m_heatmap->yAxis->pixelToCoord(e->pos().y()))));
    });
    connect(context, &plugins::ViewContext::projectChanged, this, &SensitivityView::reloadList);
    connect(context, &plugins::ViewContext::modelChanged, this, &SensitivityView::reloadList);
    reloadList();
}

void SensitivityView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    redraw(); // how many group labels fit depends on the height
}

void SensitivityView::setSetWindows(int windows) { m_setWindows->setValue(windows); }

QString SensitivityView::metric() const { return m_metric->currentData().toString(); }

void SensitivityView::setMetric(const QString& key) { m_metric->setCurrentIndex(m_metric->findData(key)); }

QString SensitivityView::noteText() const { return m_note->text(); }

void SensitivityView::reloadList() {
    m_analyses->clear();
    const QString path = m_context->projectPath();
    qint64 last = 0;
    if (!path.isEmpty()) {
        try {
            for (const core::AnalysisRecord& a : core::Project::open(path.toStdString(), false)->analyses()) {
                if (a.kind != "sensitivity") continue;
                const auto s = nlohmann::json::parse(a.summary, nullptr, false);
                const auto settings = nlohmann::json::parse(a.settings, nullptr, false);
                const bool pairs = s.is_object() && s.contains("interaction");
                m_analyses->addItem(tr("#%1 · %2 groups × %3 · %4").arg(a.id)
                                        .arg(s.is_object() ? s.value("groups", nlohmann::json::array()).size() : 0)
                                        .arg(QString::fromStdString(settings.is_object() ? settings["params"].value("formats", "") : ""))
                                        .arg(pairs ? tr("pairs") : tr("no pairs")),
                                    QVariant::fromValue<qint64>(a.id));
                last = a.id;
            }
        } catch (const std::exception& e) {
            m_status = QString::fromStdString(e.what());
        }
    }
    if (last && m_analysisId != last) {
        showAnalysis(last);
        return;
    }
    if (!last && m_analysisId) { // another project: its own analyses only
        m_result.reset();
        m_analysisId = 0;
    }
    redraw();
}

bool SensitivityView::showAnalysis(qint64 id) {
    const QString path = m_context->projectPath();
    if (path.isEmpty() || id <= 0) return false;
    try {
        auto project = core::Project::open(path.toStdString(), false);
        const core::AnalysisOutcome a = core::openAnalysis(*project, id);
        if (a.settings.value("analysis", "") != "sensitivity") return false;
        m_result = core::sensitivityFromOutput(a.output);
        m_settings = a.settings;
        m_analysisId = id;
        m_status.clear();
    } catch (const std::exception& e) {
        m_status = QString::fromStdString(e.what());
        redraw();
        return false;
    }
    m_analyses->setCurrentIndex(m_analyses->findData(id));
    redraw();
    return true;
}

bool SensitivityView::selectGroup(int index) {
    if (!m_result || index < 0 || index >= static_cast<int>(m_result->groups.size())) return false;
    m_context->setSelectedLayer(QString::fromStdString(m_result->groups[std::size_t(index)].weights.front()));
    return true;
}

bool SensitivityView::measure() {
    const auto model = m_context->model();
    const QString calibration = m_context->data().calibration;
    plugins::JobService* jobs = m_context->jobs();
    if (!model || calibration.isEmpty() || jobs->isRunning()) {
        m_status = !model ? tr("Open a model first.")
                   : calibration.isEmpty()
                       ? tr("Measure needs calibration data: the sensitivity set (toolbar ▸ Data ▸ Calibration data…)")
                       : tr("Another job is running (Jobs dock).");
        redraw();
        return false;
    }
    core::AnalysisRequest request;
    request.name = "sensitivity";
    request.model = model;
    request.setPath = calibration.toStdString();
    request.ctx = kSetCtx;
    request.windows = m_setWindows->value();
    request.params = m_form->values();
    request.commandLine = "quantscope (GUI) Sensitivity ▸ Measure";
    const std::string projectPath = m_context->projectPath().toStdString();
    const core::Registries& registries = m_context->registries();
    QPointer<SensitivityView> self(this);
    auto work = [self, request, projectPath, &registries](const core::JobContext& ctx) -> std::function<void()> {
        std::unique_ptr<core::Project> project;
        if (!projectPath.empty()) project = core::Project::open(projectPath, false);
        auto out = std::make_shared<core::AnalysisOutcome>(core::runAnalysis(request, registries, project.get(), ctx));
        return [self, out] {
            if (!self) return;
            if (out->id) {
                self->m_analysisId = 0; // reloadList shows the newest
                self->reloadList();
                self->showAnalysis(out->id);
                self->m_status = out->reused ? tr("The project had this analysis: shown as stored.") : QString();
                self->redraw();
            } else { // no project: shown, not stored
                self->m_result = core::sensitivityFromOutput(out->output);
                self->m_settings = out->settings;
                self->m_analysisId = 0;
                self->m_status = tr("Not stored: open a project to keep analyses.");
                self->redraw();
            }
        };
    };
    auto onEnd = [self, jobs](plugins::JobState state, const QString&) {
        if (!self || state == plugins::JobState::Succeeded) return;
        self->m_status = state == plugins::JobState::Cancelled ? tr("Measure cancelled.") : jobs->error();
        self->redraw();
    };
    m_status = tr("Measuring… (Jobs dock)");
    redraw();
    return jobs->start({tr("Sensitivity"), tr("Sensitivity"), tr("step"), work, onEnd});
}

void SensitivityView::openPlanner() {
    if (!m_result) {
        m_status = tr("Measure or choose a sensitivity analysis first.");
        redraw();
        return;
    }
    auto* dialog = new MixedPrecisionDialog(m_context, *m_result, m_settings, m_analysisId, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
}

void SensitivityView::redraw() {
    m_plan->setEnabled(m_result.has_value());
    QStringList note;
    if (!m_status.isEmpty()) note << m_status;
    const auto* values = m_result ? table(*m_result, metric()) : nullptr;
    if (!m_result) {
        note << tr("No sensitivity analysis yet: choose calibration data and press Measure.");
        m_heatmap->clearPlottables();
        m_pairs->clearPlottables();
        m_heatmap->replot();
        m_pairs->replot();
        m_note->setText(note.join(QStringLiteral(" · ")));
        return;
    }
    const core::SensitivityResult& r = *m_result;
    const int G = static_cast<int>(r.groups.size()), C = static_cast<int>(r.candidates.size());
    const Metric* m = &kMetrics[0];
    for (const Metric& k : kMetrics)
        if (metric() == QLatin1String(k.key)) m = &k;
    if (!values) {
        note << (metric() == QLatin1String("gradient") ? tr("This analysis has no gradient scores (measured with gradient_score off).")
                                                       : tr("This analysis has no HAWQ scores (measured with hawq_probes 0)."));
        values = &r.kld;
        m = &kMetrics[0];
    }
    QCPColorMap* map = colourMap(m_heatmap, m->diverging ? divergingGradient() : QCPColorGradient(QCPColorGradient::gpThermal),
                                 tr(m->label));
    map->data()->setSize(C, G);
    map->data()->setRange(QCPRange(0, C - 1), QCPRange(0, G - 1));
    double lo = 0, hi = 0;
    for (int g = 0; g < G; ++g)
        for (int c = 0; c < C; ++c) {
            double v = (*values)[std::size_t(g)][std::size_t(c)];
            if (m->key == std::string("top1")) v = 1 - v;
            if (m->log) v = std::log10(std::max(v, 1e-12));
            map->data()->setCell(c, g, v);
            lo = (g || c) ? std::min(lo, v) : v;
            hi = (g || c) ? std::max(hi, v) : v;
        }
    if (m->diverging) {
        const double span = std::max({std::abs(lo), std::abs(hi), 1e-12});
        map->setDataRange(QCPRange(-span, span));
    } else {
        map->setDataRange(QCPRange(lo, hi > lo ? hi : lo + 1));
    }
    QSharedPointer<QCPAxisTickerText> formats(new QCPAxisTickerText), groups(new QCPAxisTickerText);
    for (int c = 0; c < C; ++c) formats->addTick(c, QString::fromStdString(r.candidates[std::size_t(c)]));
    const int room = std::max(4, m_heatmap->axisRect()->height() / (fontMetrics().height() + 2));
    const int every = std::max(1, (G + room - 1) / room);
    for (int g = 0; g < G; g += every) groups->addTick(g, groupLabel(r.groups[std::size_t(g)]));
    m_heatmap->xAxis->setTicker(formats);
    m_heatmap->yAxis->setTicker(groups);
    m_heatmap->xAxis->setRange(-0.5, C - 0.5);
    m_heatmap->yAxis->setRange(-0.5, G - 0.5);
    m_heatmap->replot();

    // CLADO's pair terms of KL, layer-blocked, symmetric colours around 0.
    if (r.interactionKld.size() > 0) {
        const int n = static_cast<int>(r.interactionKld.rows());
        QCPColorMap* pairs = colourMap(m_pairs, divergingGradient(), tr("CLADO pair term of KL"));
        pairs->data()->setSize(n, n);
        pairs->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
        const double span = std::max(1e-12, r.interactionKld.cwiseAbs().maxCoeff());
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) pairs->data()->setCell(i, j, r.interactionKld(i, j));
        pairs->setDataRange(QCPRange(-span, span));
        QSharedPointer<QCPAxisTickerText> blocks(new QCPAxisTickerText);
        for (int g = 0; g < G; g += every) blocks->addTick(g * C + (C - 1) / 2.0, groupLabel(r.groups[std::size_t(g)]));
        for (QCPAxis* a : {m_pairs->xAxis, m_pairs->yAxis}) {
            a->setTicker(blocks);
            a->setRange(-0.5, n - 0.5);
        }
        m_pairs->xAxis->setTickLabelRotation(60);
    } else {
        m_pairs->clearPlottables();
        note << tr("No pair terms: tick pairs and Measure for CLADO.");
    }
    m_pairs->replot();

    const nlohmann::json corr = r.correlations();
    QStringList rho;
    for (const auto& [proxy, v] : corr.items())
        if (v["kld"].is_number())
            rho << tr("%1 ρ %2 (KL) / %3 (loss)")
                       .arg(QString::fromStdString(proxy))
                       .arg(v["kld"].get<double>(), 0, 'f', 2)
                       .arg(v["delta_loss"].is_number() ? QString::number(v["delta_loss"].get<double>(), 'f', 2) : QStringLiteral("–"));
    note << tr("%1 groups × %2 candidates · %3 evaluations in %4 s (%5% of the layer runs with the prefix cache)")
                .arg(G)
                .arg(C)
                .arg(r.evaluations)
                .arg(r.seconds, 0, 'f', 1)
                .arg(r.layerRunsWithoutCache ? 100.0 * double(r.layerRuns) / double(r.layerRunsWithoutCache) : 100.0, 0, 'f', 0);
    if (!rho.isEmpty()) note << tr("Proxies vs measured: %1").arg(rho.join(QStringLiteral(", ")));
    if (r.layerMajor)
        note << tr("one layer at a time: %n pass(es) over the layers, at most %1 MB of float32 weights", nullptr, r.passes)
                    .arg(double(r.peakWeightBytes) / 1e6, 0, 'f', 0);
    for (const std::string& left : r.notes) note << QString::fromStdString(left);
    m_note->setText(note.join(QStringLiteral(" · ")));
}

} // namespace qs::views
