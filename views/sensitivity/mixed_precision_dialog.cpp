// SPDX-License-Identifier: MIT
#include "mixed_precision_dialog.h"

#include "common/layer_names.h"
#include "common/plot_export.h"
#include "data/windows.h"
#include "experiment/mixed_precision_run.h"
#include "quant/recipe.h"
#include "store/project.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <tuple>
#include <quantscope/plugin/job_service.h>

namespace qs::views {
namespace {

constexpr int kSteps = 1000;    // slider resolution across the budget range
constexpr double kSolveLimit = 0.5; // seconds: the plan follows the slider; a capped solve reports its gap
constexpr int kCurvePoints = 12;    // budgets solved for the live frontier curve
const QColor kCurve(0, 114, 178), kCurrent(213, 94, 0), kMeasured(0, 158, 115);

} // namespace

MixedPrecisionDialog::MixedPrecisionDialog(plugins::ViewContext* context, core::SensitivityResult result,
                                           nlohmann::json settings, qint64 analysisId, QWidget* parent)
    : QDialog(parent), m_context(context), m_result(std::move(result)), m_analysisId(analysisId),
      m_slider(new QSlider(Qt::Horizontal, this)), m_budgetText(new QLabel(this)), m_solver(new QComboBox(this)),
      m_objective(new QComboBox(this)), m_windows(new QSpinBox(this)), m_summary(new QLabel(this)),
      m_choices(new QTableWidget(this)), m_evaluate(new QPushButton(tr("Evaluate this plan"), this)),
      m_frontier(new QPushButton(tr("Evaluate the frontier (5 budgets)"), this)), m_chart(new QCustomPlot(this)) {
    setObjectName(QStringLiteral("mixedPrecisionDialog"));
    setWindowTitle(tr("Mixed precision"));
    // Plans are evaluated with the products the sensitivity measured them with (as the CLI does).
    m_bf16Products = core::bf16ComputeFromParams(settings.at("params"));
    m_candidates = core::parseCandidateFormats(settings.at("params").at("formats").get<std::string>(),
                                               context->registries(), "mixed precision");
    std::tie(m_min, m_max) = core::planRange(m_result, core::BudgetUnit::BitsPerWeight);
    m_slider->setObjectName(QStringLiteral("mixedPrecisionBudget"));
    m_slider->setRange(0, kSteps);
    m_slider->setValue(kSteps / 3);
    m_solver->setObjectName(QStringLiteral("mixedPrecisionSolver"));
    for (const auto& [name, available, help] :
         {std::tuple{"clado", m_result.interaction.size() > 0, tr("measured singles + pair terms, exact IQP")},
          std::tuple{"ilp", !m_result.hawqScore.empty(), tr("HAWQ-V3: Hessian trace x error, additive")},
          std::tuple{"additive", true, tr("ModelOpt auto_quantize's KL score, additive")},
          std::tuple{"gradient", !m_result.gradientScore.empty(), tr("ModelOpt auto_quantize's gradient score, additive")},
          std::tuple{"greedy", true, tr("measured singles, upgrades by gain per bit")},
          std::tuple{"uniform", true, tr("one candidate for every group")}})
        if (available) m_solver->addItem(QStringLiteral("%1 — %2").arg(QString::fromLatin1(name), help), QString::fromLatin1(name));
    m_objective->setObjectName(QStringLiteral("mixedPrecisionObjective"));
    m_objective->addItem(tr("KL to fp32"), QStringLiteral("kld"));
    m_objective->addItem(tr("change of loss"), QStringLiteral("loss"));
    m_windows->setObjectName(QStringLiteral("mixedPrecisionWindows"));
    m_windows->setRange(0, 1000000);
    m_windows->setValue(64);
    m_windows->setSpecialValueText(tr("all"));
    m_windows->setToolTip(tr("Windows of the evaluation data each plan is evaluated on (0: all)"));
    m_summary->setObjectName(QStringLiteral("mixedPrecisionSummary"));
    m_summary->setWordWrap(true);
    m_choices->setObjectName(QStringLiteral("mixedPrecisionChoices"));
    m_choices->setColumnCount(2);
    m_choices->setHorizontalHeaderLabels({tr("group"), tr("format")});
    m_choices->horizontalHeader()->setStretchLastSection(true);
    m_choices->verticalHeader()->setVisible(false);
    m_choices->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_evaluate->setObjectName(QStringLiteral("mixedPrecisionEvaluate"));
    m_frontier->setObjectName(QStringLiteral("mixedPrecisionFrontier"));
    m_chart->setObjectName(QStringLiteral("mixedPrecisionChart"));
    m_chart->setMinimumHeight(180);
    m_chart->xAxis->setLabel(tr("bits / weight"));
    m_chart->yAxis->setLabel(tr("change of loss (nats)"));
    m_chart->legend->setVisible(true);
    m_chart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    for (const auto& [name, colour, shape, line] :
         {std::tuple{tr("predicted frontier (sensitivity set)"), kCurve, QCPScatterStyle::ssCircle, true},
          std::tuple{tr("this plan"), kCurrent, QCPScatterStyle::ssStar, false},
          std::tuple{tr("measured, held out: ln(ppl / fp32)"), kMeasured, QCPScatterStyle::ssDisc, false}}) {
        QCPGraph* g = m_chart->addGraph();
        g->setName(name);
        g->setPen(QPen(colour, 1.5));
        g->setLineStyle(line ? QCPGraph::lsLine : QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(shape, colour, colour, line ? 5 : 10));
    }
    installPlotExportMenu(m_chart, [] { return QStringLiteral("mixed_precision_frontier"); });

    auto* form = new QFormLayout;
    auto* budgetRow = new QHBoxLayout;
    budgetRow->addWidget(m_slider, 1);
    budgetRow->addWidget(m_budgetText);
    form->addRow(tr("Budget:"), budgetRow);
    form->addRow(tr("Solver:"), m_solver);
    form->addRow(tr("Minimise:"), m_objective);
    form->addRow(tr("Held-out windows:"), m_windows);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_evaluate);
    buttons->addWidget(m_frontier);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_summary);
    layout->addWidget(m_chart, 1);
    layout->addWidget(m_choices, 1);
    layout->addLayout(buttons);
    resize(560, 700);

    connect(m_slider, &QSlider::valueChanged, this, &MixedPrecisionDialog::replan);
    connect(m_solver, &QComboBox::currentIndexChanged, this, &MixedPrecisionDialog::replan);
    connect(m_objective, &QComboBox::currentIndexChanged, this, &MixedPrecisionDialog::replan);
    connect(m_evaluate, &QPushButton::clicked, this, [this] { evaluate({budget()}); });
    connect(m_frontier, &QPushButton::clicked, this, [this] {
        std::vector<double> budgets;
        for (int i = 1; i <= 5; ++i) budgets.push_back(m_min + (m_max - m_min) * i / 6.0);
        evaluate(budgets);
    });
    replan();
}

MixedPrecisionDialog::~MixedPrecisionDialog() {
    if (m_context) m_context->setPlanPreview(std::nullopt);
}

double MixedPrecisionDialog::budget() const { return m_min + (m_max - m_min) * m_slider->value() / double(kSteps); }

void MixedPrecisionDialog::setBudget(double bitsPerWeight) {
    m_slider->setValue(static_cast<int>(std::lround((bitsPerWeight - m_min) / std::max(1e-12, m_max - m_min) * kSteps)));
}

QString MixedPrecisionDialog::solver() const { return m_solver->currentData().toString(); }

void MixedPrecisionDialog::setSolver(const QString& name) { m_solver->setCurrentIndex(m_solver->findData(name)); }

QString MixedPrecisionDialog::summaryText() const { return m_summary->text(); }

core::MpPlan MixedPrecisionDialog::planAt(double budget) const {
    const auto method = core::mpMethodsFromList(solver().toStdString(), "solver").front();
    core::MpSolveOptions options;
    options.timeLimitSeconds = kSolveLimit;
    return core::planMixedPrecision(m_result, m_candidates, m_context->registries(), method, budget,
                                    core::BudgetUnit::BitsPerWeight,
                                    core::mpObjectiveFromName(m_objective->currentData().toString().toStdString(), "objective"),
                                    options);
}

void MixedPrecisionDialog::replan() {
    m_budgetText->setText(tr("%1 bits/weight").arg(budget(), 0, 'f', 3));
    QStringList lines;
    if (!m_status.isEmpty()) lines << m_status;
    try {
        m_plan = planAt(budget() + 1e-9); // the slider's end points are plans themselves
    } catch (const std::exception& e) {
        m_plan.reset();
        lines << QString::fromStdString(e.what());
    }
    m_choices->setRowCount(0);
    if (m_plan) {
        const core::MpSolution& s = m_plan->solution;
        lines << tr("%1 bits/weight · predicted KL %2, change of loss %3 · %4")
                     .arg(m_plan->bitsPerWeight, 0, 'f', 3)
                     .arg(m_plan->predictedKld, 0, 'g', 3)
                     .arg(m_plan->predictedDeltaLoss, 0, 'g', 3)
                     .arg(s.optimal ? tr("optimal") : std::isfinite(s.gap) ? tr("gap %1%").arg(100 * s.gap, 0, 'f', 1) : tr("heuristic"));
        m_choices->setRowCount(static_cast<int>(m_plan->choice.size()));
        for (std::size_t g = 0; g < m_plan->choice.size(); ++g) {
            m_choices->setItem(int(g), 0, new QTableWidgetItem(shortLayerName(QString::fromStdString(m_result.groups[g].name))));
            m_choices->setItem(int(g), 1, new QTableWidgetItem(QString::fromStdString(m_result.candidates[std::size_t(m_plan->choice[g])])));
        }
    }
    m_evaluate->setEnabled(m_plan.has_value());
    m_summary->setText(lines.join(QStringLiteral("\n")));
    const QString curveOf = solver() + QLatin1Char('/') + m_objective->currentData().toString();
    if (curveOf != m_curveOf) {
        m_curveOf = curveOf;
        recomputeCurve();
    }
    redrawChart();
}

void MixedPrecisionDialog::recomputeCurve() {
    m_curve.clear();
    for (int i = 0; i < kCurvePoints; ++i) {
        const double b = m_min + (m_max - m_min) * i / double(kCurvePoints - 1);
        try {
            const core::MpPlan p = planAt(b + 1e-9);
            m_curve.emplace_back(p.bitsPerWeight, p.predictedDeltaLoss);
        } catch (const std::exception&) { // a solver without what it needs: no curve
        }
    }
    m_measured.clear();
    // This analysis's plans by this solver, evaluated on held-out data.
    if (!m_context->projectPath().isEmpty() && m_analysisId) {
        try {
            auto project = core::Project::open(m_context->projectPath().toStdString(), false);
            const std::string method = solver().toStdString();
            for (const core::PlanRecord& plan : project->plans()) {
                if (plan.analysisId != m_analysisId || plan.method != method) continue;
                const auto run = project->run(plan.runId);
                if (!run || !run->metrics.perplexity || !run->metrics.referencePerplexity || !run->metrics.bitsPerWeight)
                    continue;
                m_measured.emplace_back(*run->metrics.bitsPerWeight,
                                        std::log(*run->metrics.perplexity / *run->metrics.referencePerplexity));
            }
        } catch (const std::exception&) { // the chart goes without measured points
        }
    }
}

void MixedPrecisionDialog::redrawChart() {
    QVector<double> cx, cy, px, py, mx, my;
    for (const auto& [x, y] : m_curve) cx << x, cy << y;
    if (m_plan) px << m_plan->bitsPerWeight, py << m_plan->predictedDeltaLoss;
    for (const auto& [x, y] : m_measured) mx << x, my << y;
    m_chart->graph(0)->setData(cx, cy);
    m_chart->graph(1)->setData(px, py);
    m_chart->graph(2)->setData(mx, my);
    plugins::PlanPreview preview; // the same curve and plan, for the Pareto view
    preview.name = tr("%1 plan (predicted)").arg(solver());
    preview.frontier = m_curve;
    if (m_plan) preview.current = std::pair{m_plan->bitsPerWeight, m_plan->predictedDeltaLoss};
    m_context->setPlanPreview(std::move(preview));
    m_chart->rescaleAxes();
    const QCPRange x = m_chart->xAxis->range(), y = m_chart->yAxis->range();
    m_chart->xAxis->setRange(x.lower - 0.05 * x.size() - 0.01, x.upper + 0.05 * x.size() + 0.01);
    m_chart->yAxis->setRange(y.lower - 0.08 * y.size() - 1e-6, y.upper + 0.35 * y.size() + 1e-6); // room for the legend
    m_chart->replot();
}

bool MixedPrecisionDialog::evaluate(const std::vector<double>& budgets) {
    const auto model = m_context->model();
    plugins::JobService* jobs = m_context->jobs();
    const QString data = m_context->data().evaluation;
    if (!model || data.isEmpty() || jobs->isRunning()) {
        m_status = !model ? tr("Open a model first.")
                   : data.isEmpty() ? tr("Evaluate needs evaluation data (toolbar ▸ Data ▸ Evaluation data…)")
                                    : tr("Another job is running (Jobs dock).");
        replan();
        return false;
    }
    std::vector<core::MpPlan> plans;
    for (double b : budgets) {
        try {
            plans.push_back(planAt(b + 1e-9));
            plans.back().budget = b;
        } catch (const std::exception&) { // a budget below the smallest plan: nothing to evaluate there
        }
    }
    core::RecipeRunTarget target;
    target.model = model;
    target.data = data.toStdString();
    target.eval.ctx = 128;
    target.eval.maxWindows = m_windows->value();
    target.eval.bf16Products = m_bf16Products;
    target.commandLine = "quantscope (GUI) Mixed precision ▸ Evaluate";
    const core::RecipeCalibration calibration{m_context->data().calibration.toStdString(), 128};
    const std::string projectPath = m_context->projectPath().toStdString();
    const core::Registries& registries = m_context->registries();
    const qint64 analysisId = m_analysisId;
    const core::SensitivityResult result = m_result;
    QPointer<MixedPrecisionDialog> self(this);
    QPointer<plugins::ViewContext> context(m_context);
    auto work = [=, &registries](const core::JobContext& ctx) -> std::function<void()> {
        std::unique_ptr<core::Project> project;
        if (!projectPath.empty()) project = core::Project::open(projectPath, false);
        core::RecipeRunner runner(target, registries, project.get(), ctx);
        std::vector<core::RecipeRunOutcome> outcomes;
        for (const core::MpPlan& plan : plans)
            outcomes.push_back(core::evaluatePlan(runner, plan, result, calibration, registries, project.get(), analysisId, ctx));
        return [self, context, outcomes] {
            if (context && !outcomes.empty()) {
                context->notifyProjectRunsChanged();
                if (outcomes.back().runId) context->setSelectedRunId(outcomes.back().runId);
            }
            if (!self) return;
            QStringList done;
            for (const auto& o : outcomes)
                done << tr("%1 bits/weight: perplexity %2 (%3)")
                            .arg(o.metrics.bitsPerWeight.value_or(0), 0, 'f', 3)
                            .arg(o.metrics.perplexity.value_or(0), 0, 'f', 4)
                            .arg(o.runId ? tr("run %1").arg(o.runId) : tr("not stored"));
            self->m_status = done.join(QStringLiteral("; "));
            self->m_curveOf.clear(); // the measured points changed
            self->replan();
        };
    };
    auto onEnd = [self, jobs](plugins::JobState state, const QString&) {
        if (!self || state == plugins::JobState::Succeeded) return;
        self->m_status = state == plugins::JobState::Cancelled ? tr("Evaluation cancelled.") : jobs->error();
        self->replan();
    };
    m_status = tr("Evaluating %n plan(s)… (Jobs dock)", nullptr, static_cast<int>(plans.size()));
    replan();
    return jobs->start({tr("Mixed-precision plans"), tr("Mixed precision"), tr("step"), work, onEnd});
}

} // namespace qs::views
