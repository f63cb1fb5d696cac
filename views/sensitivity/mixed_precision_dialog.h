// SPDX-License-Identifier: MIT
#pragma once
#include "analysis/candidate_formats.h"
#include "analysis/mixed_precision.h"
#include "analysis/sensitivity.h"

#include <QDialog>
#include <QPointer>
#include <nlohmann/json.hpp>
#include <optional>
#include <quantscope/plugin/view_context.h>

class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;
class QTableWidget;

namespace qs::views {

/// Plans a format per decision group under a budget from a sensitivity analysis. The plan follows the
/// budget slider as it moves (the solvers take milliseconds on a model's groups); Evaluate runs it on the
/// chosen evaluation data as a job and stores it as a run (its point appears on the Pareto view, and the
/// run becomes the selected one); Evaluate frontier does so for five budgets across the slider's range.
/// While open it publishes its predicted frontier and plan as the context's plan preview, which the
/// Pareto view draws live as the slider moves.
class MixedPrecisionDialog : public QDialog {
    Q_OBJECT
public:
    MixedPrecisionDialog(plugins::ViewContext* context, core::SensitivityResult result, nlohmann::json settings,
                         qint64 analysisId, QWidget* parent = nullptr);
    /// Clears the plan preview.
    ~MixedPrecisionDialog() override;

    /// The budget in bits per weight (the slider's value).
    double budget() const;
    void setBudget(double bitsPerWeight);
    /// The solver's name ("clado", "ilp", "additive", "gradient", "greedy", "uniform").
    QString solver() const;
    void setSolver(const QString& name);
    /// The current plan; none when it failed (the reason is in summaryText()).
    const std::optional<core::MpPlan>& plan() const { return m_plan; }
    QString summaryText() const;
    /// The smallest and largest plan of the candidates, in bits per weight.
    double minimumBudget() const { return m_min; }
    double maximumBudget() const { return m_max; }
    /// Starts a job evaluating the plans at `budgets` on the evaluation data; false (reason in the
    /// summary) without evaluation data or while another job runs.
    bool evaluate(const std::vector<double>& budgets);
    /// The live frontier: graph 0 the solver's predicted change of loss across the budget range, graph 1
    /// the slider's plan, graph 2 the measured held-out change of loss ln(ppl / ppl_fp32) of this
    /// analysis's evaluated plans by the same solver.
    QCustomPlot* frontierChart() const { return m_chart; }

private:
    void replan();
    /// Re-solves the budget range for the predicted curve and re-reads the measured plans (on a solver
    /// or objective change, and after an evaluation).
    void recomputeCurve();
    /// Draws the curve, the current plan and the measured plans.
    void redrawChart();
    core::MpPlan planAt(double budget) const;

    QPointer<plugins::ViewContext> m_context;
    core::SensitivityResult m_result;
    std::vector<core::CandidateFormat> m_candidates;
    qint64 m_analysisId;
    bool m_bf16Products = false; // the analysis's compute: its plans are evaluated the same way
    double m_min = 0, m_max = 0;
    std::optional<core::MpPlan> m_plan;
    QString m_status;
    QSlider* m_slider;
    QLabel* m_budgetText;
    QComboBox* m_solver;
    QComboBox* m_objective;
    QSpinBox* m_windows;
    QLabel* m_summary;
    QTableWidget* m_choices;
    QPushButton* m_evaluate;
    QPushButton* m_frontier;
    QCustomPlot* m_chart;
    std::vector<std::pair<double, double>> m_curve; ///< (bits/weight, predicted change of loss) per budget
    std::vector<std::pair<double, double>> m_measured; ///< (bits/weight, held-out ln(ppl / fp32)) of evaluated plans
    QString m_curveOf;                               ///< the solver and objective m_curve was solved for
};

} // namespace qs::views
