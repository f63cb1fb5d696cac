// SPDX-License-Identifier: MIT
#include "cost_view.h"

#include "common/layer_names.h"
#include "common/param_form.h"
#include "common/plot_export.h"
#include "common/plot_layout.h"
#include "experiment/run_export.h"
#include "quant/recipe.h"
#include "store/project.h"

#include <QComboBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <quantscope/plugin/job_service.h>

namespace qs::views {
namespace {

struct Figure {
    const char* key;
    const char* label; ///< the combo and the axis
    const char* shortLabel; ///< the legend
};
const Figure kFigures[] = {
    {"speedup", QT_TRANSLATE_NOOP("CostView", "speedup over the baseline"), QT_TRANSLATE_NOOP("CostView", "speedup")},
    {"potential_speedup", QT_TRANSLATE_NOOP("CostView", "ideal (potential) speedup"), QT_TRANSLATE_NOOP("CostView", "ideal")},
    {"cycles", QT_TRANSLATE_NOOP("CostView", "cycles"), QT_TRANSLATE_NOOP("CostView", "cycles")},
    {"energy", QT_TRANSLATE_NOOP("CostView", "energy (pJ)"), QT_TRANSLATE_NOOP("CostView", "energy")}};

// Okabe-Ito colours, as the other views.
const QColor kBars(0, 114, 178), kSelected(213, 94, 0), kIdeal(150, 150, 150);

} // namespace

CostView::CostView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context), m_design(new QComboBox(this)), m_figure(new QComboBox(this)),
      m_price(new QPushButton(tr("Price"), this)), m_priceAll(new QPushButton(tr("Price all runs"), this)),
      m_form(new ParamForm(this)), m_note(new QLabel(this)), m_bars(new QCustomPlot(this)),
      m_pareto(new QCustomPlot(this)) {
    setObjectName(QStringLiteral("costView"));
    m_design->setObjectName(QStringLiteral("costDesign"));
    for (const core::CostModel* m : context->registries().costModels.all())
        m_design->addItem(QString::fromUtf8(m->name().data(), static_cast<int>(m->name().size())),
                          QString::fromUtf8(m->summary().data(), static_cast<int>(m->summary().size())));
    m_figure->setObjectName(QStringLiteral("costFigure"));
    for (const Figure& f : kFigures) m_figure->addItem(tr(f.label), QString::fromLatin1(f.key));
    for (int i = 0; i < m_figure->count(); ++i) m_figure->setItemData(i, tr(kFigures[i].shortLabel), Qt::ToolTipRole);
    m_price->setObjectName(QStringLiteral("costPrice"));
    m_price->setToolTip(tr("Price the selected run (or, with none, the current spec and layer rules with RTN) on the "
                           "calibration data: weights as quantized, activations as captured"));
    m_priceAll->setObjectName(QStringLiteral("costPriceAll"));
    m_priceAll->setToolTip(tr("Price every finished run of the project on this design (one job)"));
    m_form->setObjectName(QStringLiteral("costForm"));
    m_note->setObjectName(QStringLiteral("costNote"));
    m_note->setWordWrap(true);
    m_bars->setObjectName(QStringLiteral("costBars"));
    m_pareto->setObjectName(QStringLiteral("costPareto"));
    for (QCustomPlot* p : {m_bars, m_pareto}) p->setMinimumSize(260, 200);
    m_bars->xAxis->setTickLabelRotation(60);
    m_bars->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_bars->axisRect()->setRangeZoom(Qt::Horizontal);
    m_bars->axisRect()->setRangeDrag(Qt::Horizontal);
    m_bars->legend->setVisible(true);
    placeLegendBelow(m_bars->legend, m_bars->axisRect(), 2);
    m_pareto->xAxis->setLabel(tr("speedup on the design (higher: cheaper)"));
    installPlotExportMenu(m_bars, [this] { return QStringLiteral("cost_") + design(); });
    installPlotExportMenu(m_pareto, [this] { return QStringLiteral("cost_pareto_") + design(); });

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Design:"), this));
    bar->addWidget(m_design, 1);
    bar->addWidget(new QLabel(tr("Bars:"), this));
    bar->addWidget(m_figure);
    auto* formBox = new QGroupBox(tr("Design parameters"), this);
    auto* formLayout = new QVBoxLayout(formBox);
    formLayout->addWidget(m_form);
    formLayout->addWidget(m_price);
    formLayout->addWidget(m_priceAll);
    formLayout->addStretch(1);
    formBox->setMaximumWidth(340);
    auto* plots = new QSplitter(Qt::Vertical, this);
    plots->addWidget(m_bars);
    plots->addWidget(m_pareto);
    auto* body = new QHBoxLayout;
    body->addWidget(formBox);
    body->addWidget(plots, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addWidget(m_note);
    layout->addLayout(body, 1);

    connect(m_design, &QComboBox::currentIndexChanged, this, [this] {
        m_form->setSchema(m_context->registries().costModels.get(design().toStdString(), "cost model").params());
        m_design->setToolTip(m_design->currentData().toString());
        m_outcome.reset();
        reloadPoints();
        redraw();
    });
    connect(m_figure, &QComboBox::currentIndexChanged, this, &CostView::redraw);
    connect(m_price, &QPushButton::clicked, this, &CostView::price);
    connect(m_priceAll, &QPushButton::clicked, this, &CostView::priceAllRuns);
    connect(m_bars, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable* p, int index, QMouseEvent*) {
        if (p->interface1D() && index >= 0 && index < p->interface1D()->dataCount())
            selectBar(static_cast<int>(std::lround(p->interface1D()->dataMainKey(index))));
    });
    connect(m_pareto, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable* p, int index, QMouseEvent*) {
        if (p->interface1D() && index >= 0 && index < static_cast<int>(m_points.size()) && p->objectName() == "runs")
            m_context->setSelectedRunId(m_points[static_cast<std::size_t>(index)].runId);
    });
    connect(context, &plugins::ViewContext::selectedLayerChanged, this, &CostView::redraw);
    connect(context, &plugins::ViewContext::selectedRunChanged, this, &CostView::redraw);
    connect(context, &plugins::ViewContext::projectChanged, this, [this] { reloadPoints(); redraw(); });
    connect(context, &plugins::ViewContext::projectRunsChanged, this, [this] { reloadPoints(); redraw(); });
    connect(context, &plugins::ViewContext::modelChanged, this, [this] { m_outcome.reset(); redraw(); });
    if (m_design->count()) {
        m_form->setSchema(context->registries().costModels.get(design().toStdString(), "cost model").params());
        m_design->setToolTip(m_design->currentData().toString());
    }
    reloadPoints();
    redraw();
}

QString CostView::design() const { return m_design->currentText(); }

void CostView::setDesign(const QString& name) { m_design->setCurrentIndex(m_design->findText(name)); }

void CostView::setFigure(const QString& key) { m_figure->setCurrentIndex(m_figure->findData(key)); }

QString CostView::noteText() const { return m_note->text(); }

bool CostView::selectBar(int index) {
    if (!m_outcome || index < 0 || index >= static_cast<int>(m_outcome->output.rows.size())) return false;
    // A layer is named by its weight without ".weight" (a weight of another name keeps it whole).
    const std::string& name = m_outcome->output.rows[std::size_t(index)].first;
    const auto& model = m_context->model();
    const bool suffixed = !model || model->find(name + ".weight");
    m_context->setSelectedLayer(QString::fromStdString(suffixed ? name + ".weight" : name));
    return true;
}

void CostView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    redraw(); // how many tick labels fit depends on the width
}

bool CostView::price() {
    core::CostRequest r;
    if (m_context->selectedRunId() && !m_context->projectPath().isEmpty()) {
        r.runId = m_context->selectedRunId(); // the job reads its recipe and model from the project
    } else {
        nlohmann::json recipe = m_context->currentSpec().toJson();
        recipe["method"] = "rtn";
        if (!m_context->layerRules().empty()) recipe["layers"] = m_context->layerRules();
        try {
            r.recipe = core::recipeFromJson(recipe, m_context->registries(), "cost view");
        } catch (const std::exception& e) {
            m_status = QString::fromStdString(e.what());
            redraw();
            return false;
        }
        r.model = m_context->model();
    }
    return startJob(tr("Price"), {r});
}

bool CostView::priceAllRuns() {
    if (m_context->projectPath().isEmpty()) {
        m_status = tr("Price all runs needs an open project.");
        redraw();
        return false;
    }
    std::vector<core::CostRequest> requests;
    try {
        for (const core::RunRecord& run : core::Project::open(m_context->projectPath().toStdString(), false)->runs())
            if (run.status == "finished") {
                core::CostRequest r;
                r.runId = run.id;
                requests.push_back(r);
            }
    } catch (const std::exception& e) {
        m_status = QString::fromStdString(e.what());
        redraw();
        return false;
    }
    return startJob(tr("Price all runs"), std::move(requests));
}

bool CostView::startJob(const QString& title, std::vector<core::CostRequest> requests) {
    const QString calibration = m_context->data().calibration;
    plugins::JobService* jobs = m_context->jobs();
    if (!m_context->model() || calibration.isEmpty() || jobs->isRunning() || requests.empty()) {
        m_status = !m_context->model() ? tr("Open a model first.")
                   : calibration.isEmpty() ? tr("Pricing reads activations from the calibration data (toolbar ▸ Data ▸ "
                                                "Calibration data…)")
                   : requests.empty()      ? tr("The project has no finished run.")
                                           : tr("Another job is running (Jobs dock).");
        redraw();
        return false;
    }
    const nlohmann::json params = m_form->values();
    for (core::CostRequest& r : requests) {
        r.costModel = design().toStdString();
        r.params = params;
        r.dataPath = calibration.toStdString();
        r.commandLine = "quantscope (GUI) Hardware cost ▸ " + title.toStdString();
    }
    const std::string projectPath = m_context->projectPath().toStdString();
    const core::Registries& registries = m_context->registries();
    QPointer<CostView> self(this);
    auto work = [self, requests, projectPath, &registries](const core::JobContext& ctx) -> std::function<void()> {
        std::unique_ptr<core::Project> project;
        if (!projectPath.empty()) project = core::Project::open(projectPath, false);
        auto last = std::make_shared<core::AnalysisOutcome>();
        for (std::size_t i = 0; i < requests.size(); ++i) {
            core::CostRequest r = requests[i];
            ctx.step(static_cast<long long>(i), static_cast<long long>(requests.size()),
                     r.runId ? "run " + std::to_string(r.runId) : "current recipe");
            if (r.runId) {
                core::StoredRecipe stored = core::storedRunRecipe(*project, r.runId, registries);
                r.model = std::move(stored.model);
                r.recipe = std::move(stored.recipe);
            }
            *last = core::runCost(r, registries, project.get(), core::JobContext{nullptr, ctx.cancel});
        }
        return [self, last] {
            if (!self) return;
            self->m_outcome = *last;
            self->m_status = last->reused ? tr("Stored pricing re-opened.") : QString();
            self->reloadPoints();
            self->redraw();
        };
    };
    auto onEnd = [self, jobs](plugins::JobState state, const QString&) {
        if (!self || state == plugins::JobState::Succeeded) return;
        self->m_status = state == plugins::JobState::Cancelled ? tr("Pricing cancelled.") : jobs->error();
        self->redraw();
    };
    m_status = tr("Pricing… (Jobs dock)");
    redraw();
    return jobs->start({title, tr("Hardware cost"), tr("run"), work, onEnd});
}

void CostView::reloadPoints() {
    m_points.clear();
    if (m_context->projectPath().isEmpty() || m_design->count() == 0) return;
    try {
        m_points = core::storedCostPoints(*core::Project::open(m_context->projectPath().toStdString(), false),
                                          design().toStdString());
    } catch (const std::exception& e) {
        m_status = QString::fromStdString(e.what());
    }
}

void CostView::redraw() {
    const QString figure = m_figure->currentData().toString();
    m_bars->clearPlottables();
    QString note;
    if (m_outcome) {
        const nlohmann::json& s = m_outcome->output.summary;
        const nlohmann::json& t = s["total"];
        note = tr("<b>%1</b> on <b>%2</b> (%3 mode): speedup %4 (ideal %5), energy efficiency %6")
                   .arg(QString::fromStdString(s.value("label", "")).toHtmlEscaped(), design(),
                        QString::fromStdString(s.value("mode", "paper")))
                   .arg(t.value("speedup", 0.0), 0, 'f', 3)
                   .arg(t.value("potential_speedup", 0.0), 0, 'f', 3)
                   .arg(t.value("energy_efficiency", 0.0), 0, 'f', 3);
        auto* bars = new QCPBars(m_bars->xAxis, m_bars->yAxis);
        bars->setName(m_figure->currentData(Qt::ToolTipRole).toString());
        bars->setPen(Qt::NoPen);
        bars->setBrush(kBars);
        auto* selected = new QCPBars(m_bars->xAxis, m_bars->yAxis);
        selected->setName(tr("selected"));
        selected->setPen(Qt::NoPen);
        selected->setBrush(kSelected);
        auto* ideal = new QCPGraph(m_bars->xAxis, m_bars->yAxis);
        ideal->setName(tr("ideal"));
        ideal->setLineStyle(QCPGraph::lsNone);
        ideal->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssPlus, kIdeal, kIdeal, 7));
        QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
        const auto& rows = m_outcome->output.rows;
        const int n = static_cast<int>(rows.size());
        const int room = std::max(4, m_bars->axisRect()->width() / (fontMetrics().height() + 4));
        const int every = std::max(1, (n + room - 1) / room);
        double top = 0;
        for (int i = 0; i < n; ++i) {
            const auto& [name, v] = rows[std::size_t(i)];
            const double y = v.value(figure.toStdString(), 0.0);
            const bool isSelected = QString::fromStdString(name + ".weight") == m_context->selectedLayer() ||
                                    QString::fromStdString(name) == m_context->selectedLayer();
            (isSelected ? selected : bars)->addData(i, y);
            top = std::max(top, y);
            if (figure == QLatin1String("speedup")) {
                ideal->addData(i, v.value("potential_speedup", 0.0));
                top = std::max(top, v.value("potential_speedup", 0.0));
            }
            if (i % every == 0 || isSelected) ticker->addTick(i, shortLayerName(QString::fromStdString(name)));
        }
        if (figure != QLatin1String("speedup")) m_bars->removePlottable(ideal);
        m_bars->xAxis->setTicker(ticker);
        m_bars->xAxis->setRange(-0.7, n - 0.3);
        m_bars->yAxis->setRange(0, std::max(1e-9, top * 1.1));
        m_bars->yAxis->setLabel(m_figure->currentText());
    } else {
        note = tr("Price ▸ prices the selected run (or the current spec) on <b>%1</b>.").arg(design());
    }
    m_bars->replot();

    // Accuracy against cost: every run priced on this design.
    m_pareto->clearPlottables();
    bool perplexity = false;
    for (const auto& p : m_points) perplexity |= p.metrics.perplexity.has_value();
    m_pareto->yAxis->setLabel(perplexity ? tr("perplexity (lower is better)") : tr("accuracy (higher is better)"));
    auto* runs = new QCPGraph(m_pareto->xAxis, m_pareto->yAxis);
    runs->setObjectName(QStringLiteral("runs"));
    runs->setName(tr("runs"));
    runs->setLineStyle(QCPGraph::lsNone);
    runs->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, kBars, kBars, 7));
    auto* chosen = new QCPGraph(m_pareto->xAxis, m_pareto->yAxis);
    chosen->setName(tr("selected run"));
    chosen->setLineStyle(QCPGraph::lsNone);
    chosen->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, kSelected, kSelected, 9));
    double xMax = 1, yMin = 0, yMax = 0;
    bool first = true;
    for (const auto& p : m_points) {
        const std::optional<double> y = perplexity ? p.metrics.perplexity : p.metrics.accuracy;
        if (!y) continue;
        runs->addData(p.speedup, *y); // QCPGraph sorts by key; the click maps back through m_points order
        if (p.runId == m_context->selectedRunId()) chosen->addData(p.speedup, *y);
        xMax = std::max(xMax, p.speedup);
        yMin = first ? *y : std::min(yMin, *y);
        yMax = first ? *y : std::max(yMax, *y);
        first = false;
    }
    m_pareto->xAxis->setRange(0, xMax * 1.1);
    const double pad = std::max(1e-6, (yMax - yMin) * 0.1);
    m_pareto->yAxis->setRange(yMin - pad, yMax + pad);
    m_pareto->replot();
    if (!m_points.empty())
        note += tr(" · %n run(s) of the project priced on this design", nullptr, static_cast<int>(m_points.size()));
    else if (!m_context->projectPath().isEmpty())
        note += tr(" · Price all runs puts the project's runs at (speedup, quality).");
    if (!m_status.isEmpty()) note += QStringLiteral("<br>") + m_status.toHtmlEscaped();
    m_note->setText(note);
}

} // namespace qs::views
