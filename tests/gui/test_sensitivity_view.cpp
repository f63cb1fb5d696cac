// SPDX-License-Identifier: MIT
// The Sensitivity view and the Mixed-precision dialog as a user drives them: Measure stores an analysis
// in the project, the heatmap and pair matrix show it, a cell selects its layer, the plan follows the
// budget and respects it, Evaluate stores a run with its plan and selects it.
#include "experiment_controller.h"
#include "mixed_precision_dialog.h"
#include "pareto_data.h"
#include "pareto_view.h"
#include "sensitivity_view.h"
#include "window_test.h"

#include "common/param_form.h"
#include "store/project.h"

#include <qcustomplot.h>

namespace {

using namespace qs;

class SensitivityViewTest : public test::WindowTest {
protected:
    // The fixture model open, a fresh project `name`, and the Sensitivity view shown (into `view`).
    void openSensitivityView(const QString& name, QString& project, views::SensitivityView*& view) {
        project = freshProject(name);
        ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
        ASSERT_TRUE(m_window->experiments()->openProject(project, true));
        ASSERT_TRUE(m_window->showView(QStringLiteral("sensitivity")));
        view = m_window->findChild<views::SensitivityView*>();
        ASSERT_NE(view, nullptr);
    }
};

QCPColorMap* colourMapOf(QCustomPlot* plot) {
    return plot->plottableCount() ? qobject_cast<QCPColorMap*>(plot->plottable(0)) : nullptr;
}

TEST_F(SensitivityViewTest, MeasurePlanEvaluate) {
    QString project;
    views::SensitivityView* view = nullptr;
    ASSERT_NO_FATAL_FAILURE(openSensitivityView(QStringLiteral("sensitivity.qsproj"), project, view));
    EXPECT_FALSE(view->measure()); // no calibration data yet: refused, and said
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("calibration data")));

    m_window->experiments()->setCalibrationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt"));
    m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
    view->setSetWindows(2);
    view->form()->setValue(QStringLiteral("formats"), "int3:group:32:asym,int8:channel:sym");
    view->form()->setValue(QStringLiteral("pairs"), true);
    view->form()->setValue(QStringLiteral("pair_distance"), 1);
    view->form()->setValue(QStringLiteral("hawq_probes"), 0);
    ASSERT_TRUE(view->measure());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(view->result().has_value()) << view->noteText().toStdString();
    EXPECT_GT(view->analysisId(), 0);
    EXPECT_EQ(view->result()->groups.size(), 16u);
    QCPColorMap* heat = colourMapOf(view->heatmap());
    ASSERT_NE(heat, nullptr);
    EXPECT_EQ(heat->data()->keySize(), 2);
    EXPECT_EQ(heat->data()->valueSize(), 16);
    ASSERT_NE(colourMapOf(view->pairPlot()), nullptr);
    EXPECT_EQ(colourMapOf(view->pairPlot())->data()->keySize(), 32);
    m_window->resize(1600, 1000);
    m_window->show();
    QTest::qWait(100);
    EXPECT_TRUE(m_window->grab().save(test::outputDir() + QStringLiteral("/sensitivity-view.png")));
    // A cell selects its group's first weight everywhere.
    ASSERT_TRUE(view->selectGroup(2));
    EXPECT_EQ(m_window->viewContext()->selectedLayer(), QStringLiteral("model.layers.0.mlp.gate_proj.weight"));
    // The same parameters again: re-opened from the project, not measured again.
    ASSERT_TRUE(view->measure());
    ASSERT_TRUE(waitIdle()) << log();
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("had this analysis"))) << view->noteText().toStdString();

    auto owned = std::make_unique<views::MixedPrecisionDialog>(m_window->viewContext(), *view->result(),
                                                               view->analysisSettings(), view->analysisId());
    views::MixedPrecisionDialog& dialog = *owned;
    EXPECT_NEAR(dialog.minimumBudget(), view->result()->bitsPerWeight[0][0], 0.05); // int3 everywhere
    dialog.setSolver(QStringLiteral("clado"));
    ASSERT_EQ(dialog.solver(), QStringLiteral("clado"));
    for (double budget : {dialog.minimumBudget(), 4.0, 6.0, dialog.maximumBudget()}) {
        dialog.setBudget(budget);
        ASSERT_TRUE(dialog.plan().has_value()) << dialog.summaryText().toStdString();
        EXPECT_LE(dialog.plan()->bitsPerWeight, dialog.budget() + 1e-6);
    }
    dialog.setBudget(4.0);
    const auto plan = *dialog.plan();
    // The live frontier: the solver's predicted curve over the range, the slider's plan on it.
    QCustomPlot* chart = dialog.frontierChart();
    ASSERT_EQ(chart->graphCount(), 3);
    EXPECT_GE(chart->graph(0)->dataCount(), 2);
    ASSERT_EQ(chart->graph(1)->dataCount(), 1);
    EXPECT_DOUBLE_EQ(chart->graph(1)->data()->begin()->key, plan.bitsPerWeight);
    EXPECT_DOUBLE_EQ(chart->graph(1)->data()->begin()->value, plan.predictedDeltaLoss);
    EXPECT_EQ(chart->graph(2)->dataCount(), 0); // nothing measured yet
    ASSERT_TRUE(dialog.evaluate({dialog.budget()}));
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(chart->graph(2)->dataCount(), 1); // the evaluated plan, held out
    EXPECT_NEAR(chart->graph(2)->data()->begin()->key, plan.bitsPerWeight, 1e-9);
    dialog.show();
    QTest::qWait(50);
    EXPECT_TRUE(dialog.grab().save(test::outputDir() + QStringLiteral("/mixed-precision-dialog.png")));
    auto stored = core::Project::open(project.toStdString(), false);
    const auto plans = stored->plans();
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].method, "clado");
    EXPECT_EQ(plans[0].analysisId, view->analysisId());
    EXPECT_EQ(m_window->viewContext()->selectedRunId(), plans[0].runId); // the frontier point opens its run
    const auto run = stored->run(plans[0].runId);
    ASSERT_TRUE(run.has_value());
    EXPECT_NEAR(run->metrics.bitsPerWeight.value_or(0), plan.bitsPerWeight, 1e-9);
    // On the Pareto chart the plan is its solver's own series.
    const auto data = views::buildParetoData(stored->runs(), "bits_per_weight", "perplexity", views::ParetoGroup::Method,
                                             views::planSolvers(plans));
    bool found = false;
    for (const auto& s : data.series)
        for (const auto& p : s.points)
            found = found || (p.runId == plans[0].runId && s.name == "plan: clado" && p.label == "plan: clado");
    EXPECT_TRUE(found);

    // The Pareto view draws the plan being chosen live, at the perplexity its predicted change of
    // loss gives from the held-out fp32 perplexity, and forgets it when the dialog goes.
    ASSERT_TRUE(m_window->showView(QStringLiteral("pareto")));
    auto* pareto = m_window->findChild<views::ParetoView*>();
    ASSERT_NE(pareto, nullptr);
    dialog.setBudget(6.0);
    ASSERT_TRUE(dialog.plan().has_value());
    ASSERT_TRUE(pareto->data().preview) << pareto->statusText().toStdString();
    ASSERT_TRUE(pareto->data().preview->current);
    EXPECT_DOUBLE_EQ(pareto->data().preview->current->first, dialog.plan()->bitsPerWeight);
    EXPECT_NEAR(pareto->data().preview->current->second,
                *run->metrics.referencePerplexity * std::exp(dialog.plan()->predictedDeltaLoss), 1e-9);
    EXPECT_EQ(pareto->data().preview->frontier.size(), std::size_t(chart->graph(0)->dataCount()));
    EXPECT_TRUE(pareto->plot()->savePng(test::outputDir() + QStringLiteral("/pareto-plan-preview.png"), 800, 500));
    owned.reset();
    EXPECT_FALSE(pareto->data().preview);

    // One layer at a time (the form's checkbox): the same table, gradient scores included (from the
    // layer-major backward pass), and nothing left out.
    const auto whole = view->result()->deltaLoss;
    const auto wholeGradient = view->result()->gradientScore;
    view->form()->setValue(QStringLiteral("low_memory"), true);
    ASSERT_TRUE(view->measure());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(view->result().has_value());
    EXPECT_TRUE(view->result()->layerMajor);
    EXPECT_EQ(view->result()->deltaLoss, whole);
    ASSERT_FALSE(wholeGradient.empty());
    EXPECT_EQ(view->result()->gradientScore, wholeGradient);
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("one layer at a time"))) << view->noteText().toStdString();
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("gradient"))) << view->noteText().toStdString();
    EXPECT_FALSE(view->noteText().contains(QStringLiteral("left out"))) << view->noteText().toStdString();
}

// The form's Products choice (compute bf16): the analysis is measured and stored with bf16 products,
// and the Mixed-precision dialog evaluates its plans the same way (the run's settings say bf16).
TEST_F(SensitivityViewTest, Bf16ProductsFromTheFormReachTheAnalysisAndItsPlans) {
    QString project;
    views::SensitivityView* view = nullptr;
    ASSERT_NO_FATAL_FAILURE(openSensitivityView(QStringLiteral("sensitivity-bf16.qsproj"), project, view));
    m_window->experiments()->setCalibrationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt"));
    m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
    view->setSetWindows(2);
    view->form()->setValue(QStringLiteral("formats"), "int4:group:32:asym,int8:channel:sym");
    view->form()->setValue(QStringLiteral("hawq_probes"), 0);
    view->form()->setValue(QStringLiteral("gradient_score"), false);
    view->form()->setValue(QStringLiteral("compute"), "bf16");
    ASSERT_TRUE(view->measure());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(view->result().has_value()) << view->noteText().toStdString();
    EXPECT_EQ(view->analysisSettings()["params"]["compute"], "bf16");

    views::MixedPrecisionDialog dialog(m_window->viewContext(), *view->result(), view->analysisSettings(),
                                       view->analysisId());
    dialog.setBudget(6.0);
    ASSERT_TRUE(dialog.plan().has_value()) << dialog.summaryText().toStdString();
    ASSERT_TRUE(dialog.evaluate({dialog.budget()}));
    ASSERT_TRUE(waitIdle()) << log();
    auto stored = core::Project::open(project.toStdString(), false);
    const auto plans = stored->plans();
    ASSERT_EQ(plans.size(), 1u);
    const auto run = stored->run(plans[0].runId);
    ASSERT_TRUE(run.has_value());
    EXPECT_NE(run->evalSettings.find("bf16"), std::string::npos) << run->evalSettings;
}

} // namespace
