// SPDX-License-Identifier: MIT
// Evaluate on an ONNX classifier from the main window, offscreen: the digits CNN of the fixtures opens
// (layer table), Evaluate asks for labels, and the stored accuracies equal the fixture's independent
// reference counts (fixtures/README.md section 3) out of 450 exactly; the Pareto data of the project
// show the runs on the accuracy axis.
#include "blocking_quantizer.h"
#include "builtin_views.h"
#include "experiment/builtins.h"
#include "gui_test_support.h"
#include "window_test.h"
#include "experiment_controller.h"
#include "jobs_dock.h"
#include "parameters_panel.h"
#include <quantscope/plugin/job_service.h>
#include "main_window.h"
#include "common/param_form.h"
#include "pareto_data.h"
#include "store/project.h"
#include "experiment/recipe_run.h"
#include "experiment/sweep.h"

#include <QAction>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSettings>
#include <QTest>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace qs;

const QString kDigits = QStringLiteral(QS_FIXTURES_DIR "/digits-cnn");

// n_correct of a variant in the fixture's reference.json (computed by PyTorch, not by us).
int referenceCorrect(const std::string& variant) {
    std::ifstream in((kDigits + QStringLiteral("/reference.json")).toStdString());
    const auto j = nlohmann::json::parse(in);
    return j.at("results").at(variant).at("n_correct").get<int>();
}

class EvaluateClassifierTest : public test::WindowTest {
protected:
    void SetUp() override {
        WindowTest::SetUp();
        m_projectPath = freshProject(QStringLiteral("digits.qsproj"));
    }
    void addQuantizers(core::Registries& r) override {
        r.quantizers.add(std::make_unique<test::BlockingQuantizer>());
    }
    void openDigits() {
        ASSERT_NO_FATAL_FAILURE(openAndWait(kDigits + QStringLiteral("/model.onnx")));
        ASSERT_TRUE(m_window->experiments()->isClassifierOpen());
    }
    // Weights per output channel, symmetric, `format`; activations as given.
    void chooseRecipe(const char* format, const QString& act = {}) {
        ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
        m_window->parameters()->specForm()->setValue(QStringLiteral("format"), format);
        m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "channel");
        m_window->parameters()->specForm()->setValue(QStringLiteral("sym"), true);
        m_window->parameters()->actQuantEdit()->setText(act);
    }
    core::RecipeRunOutcome evaluateOk() {
        EXPECT_TRUE(m_window->experiments()->evaluate()) << log();
        EXPECT_TRUE(waitIdle(120000)) << log();
        EXPECT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
        EXPECT_TRUE(m_window->experiments()->lastEvaluation()) << log();
        return m_window->experiments()->lastEvaluation().value_or(core::RecipeRunOutcome{});
    }

    QString m_projectPath;
};

TEST_F(EvaluateClassifierTest, OpensTheOnnxModelWithItsLayerTable) {
    openDigits();
    const auto& layers = m_window->viewContext()->layers();
    ASSERT_EQ(layers.size(), 8u); // 4 weights + 4 biases (fixtures/README.md section 3)
    int quantizable = 0;
    for (const auto& l : layers)
        quantizable += l.info.quantizable ? 1 : 0;
    EXPECT_EQ(quantizable, 4);
    EXPECT_EQ(m_window->viewContext()->selectedLayer(), QStringLiteral("conv1.weight"));
    // conv2.weight [32,16,3,3] as a [32, 144] matrix: its histogram covers 4608 weights.
    for (const auto& l : layers)
        if (l.info.name == "conv2.weight") {
            EXPECT_EQ(l.stats.count, 32 * 16 * 3 * 3);
        }
}

TEST_F(EvaluateClassifierTest, StoresAccuraciesThatEqualTheFixtureReference) {
    openDigits();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    m_window->experiments()->setEvaluationData(kDigits + QStringLiteral("/test_x.npy"));
    chooseRecipe("int8");
    EXPECT_FALSE(m_window->experiments()->evaluate()); // a classifier needs labels
    EXPECT_NE(log().find("Labels"), std::string::npos) << log();
    m_window->experiments()->setLabelsData(kDigits + QStringLiteral("/test_y.npy"));

    const core::RecipeRunOutcome w8 = evaluateOk();
    EXPECT_FALSE(w8.reused);
    ASSERT_GT(w8.runId, 0);
    ASSERT_GT(w8.referenceRunId, 0);
    EXPECT_TRUE(m_window->experiments()->evaluationLabel()->text().startsWith(QStringLiteral("accuracy ")))
        << m_window->experiments()->evaluationLabel()->text().toStdString();
    m_window->resize(1400, 900);
    m_window->grab().save(test::outputDir() + QStringLiteral("/classifier-window.png")); // for a human look

    // INT4 weights, and INT8 weights with static INT8 per-tensor activations from the calibration images
    // (given as an HDF5 dataset, the core's FILE.h5:DATASET spelling).
    chooseRecipe("int4");
    const core::RecipeRunOutcome w4 = evaluateOk();
    chooseRecipe("int8", QStringLiteral("int8:tensor"));
    m_window->experiments()->setCalibrationData(kDigits + QStringLiteral("/digits.h5:calib_x"));
    const core::RecipeRunOutcome w8a8 = evaluateOk();

    auto project = core::Project::open(m_projectPath.toStdString(), false);
    ASSERT_EQ(project->runs().size(), 4u); // fp32 + 3 recipes
    const auto accuracy = [&](std::int64_t id) {
        const auto run = project->run(id);
        EXPECT_TRUE(run && run->metrics.accuracy) << id;
        return run && run->metrics.accuracy ? *run->metrics.accuracy : -1.0;
    };
    EXPECT_EQ(accuracy(w8.referenceRunId), referenceCorrect("fp32") / 450.0);
    EXPECT_EQ(accuracy(w8.runId), referenceCorrect("w8_perchannel_sym") / 450.0);
    EXPECT_EQ(accuracy(w4.runId), referenceCorrect("w4_perchannel_sym") / 450.0);
    EXPECT_EQ(accuracy(w8a8.runId), referenceCorrect("w8_perchannel_sym_a8_pertensor_sym") / 450.0);
    EXPECT_EQ(w4.referenceRunId, w8.referenceRunId);
    EXPECT_EQ(w8a8.referenceRunId, w8.referenceRunId);
    ASSERT_TRUE(w8.referenceAccuracy);
    EXPECT_EQ(*w8.referenceAccuracy, referenceCorrect("fp32") / 450.0);

    // The static activation scales' images are part of the run's settings, the recipe names the spec.
    const auto a8 = project->run(w8a8.runId);
    ASSERT_TRUE(a8);
    EXPECT_NE(a8->evalSettings.find("digits.h5:calib_x"), std::string::npos) << a8->evalSettings;
    EXPECT_NE(a8->recipe.find("activation"), std::string::npos) << a8->recipe;
    // Bits per weight: INT8 per channel with an fp16 scale per row of conv1 [16, 9] etc. is above 8.
    const auto w8run = project->run(w8.runId);
    ASSERT_TRUE(w8run && w8run->metrics.bitsPerWeight);
    EXPECT_GT(*w8run->metrics.bitsPerWeight, 8.0);
    EXPECT_LT(*w8run->metrics.bitsPerWeight, 9.0);
    EXPECT_EQ(project->layers(w8.runId).size(), 4u);

    // The Pareto view's data: three points on the accuracy axis (higher is better), fp32 as reference.
    const auto data = views::buildParetoData(project->runs(), "bits_per_weight",
                                             "accuracy", views::ParetoGroup::Format);
    EXPECT_EQ(data.referenceRunId, w8.referenceRunId);
    ASSERT_TRUE(data.referenceY);
    EXPECT_EQ(*data.referenceY, referenceCorrect("fp32") / 450.0);
    std::size_t points = 0;
    for (const auto& s : data.series)
        points += s.points.size();
    EXPECT_EQ(points, 3u);
    EXPECT_TRUE(views::higherIsBetter("accuracy"));

    // Evaluating a stored recipe again shows it without recomputing.
    const core::RecipeRunOutcome again = evaluateOk();
    EXPECT_TRUE(again.reused);
    EXPECT_EQ(again.runId, w8a8.runId);
    EXPECT_EQ(project->runs().size(), 4u);
}

TEST_F(EvaluateClassifierTest, CancelStoresNothingAndTheNextEvaluateRuns) {
    openDigits();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    m_window->experiments()->setEvaluationData(kDigits + QStringLiteral("/test_x.npy"));
    m_window->experiments()->setLabelsData(kDigits + QStringLiteral("/test_y.npy"));
    chooseRecipe("int8");
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("blocking")));
    test::BlockingQuantizer::entered = false;
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(QTest::qWaitFor([] { return test::BlockingQuantizer::entered.load(); }, 60000)) << log();
    EXPECT_TRUE(m_window->findChild<QWidget*>(QStringLiteral("cancelButton"))->isEnabled());
    m_window->cancelJob();
    ASSERT_TRUE(waitIdle(60000)) << log();
    EXPECT_EQ(m_window->jobs()->state(), plugins::JobState::Cancelled) << log();
    EXPECT_TRUE(core::Project::open(m_projectPath.toStdString(), false)->runs().empty());
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
    const core::RecipeRunOutcome w8 = evaluateOk();
    ASSERT_TRUE(w8.metrics.accuracy);
    EXPECT_EQ(*w8.metrics.accuracy, referenceCorrect("w8_perchannel_sym") / 450.0);
}

TEST_F(EvaluateClassifierTest, LanguageModelOnlyRecipesAreRefusedByName) {
    openDigits();
    m_window->experiments()->setEvaluationData(kDigits + QStringLiteral("/digits.h5:test_x"));
    m_window->experiments()->setLabelsData(kDigits + QStringLiteral("/digits.h5:test_y"));
    chooseRecipe("int8");
    ASSERT_TRUE(m_window->parameters()->setTransform(QStringLiteral("rotate")));
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle(60000)) << log();
    EXPECT_EQ(m_window->jobs()->state(), plugins::JobState::Failed) << log();
    EXPECT_NE(log().find("classifier"), std::string::npos) << log();
    // Without the transform it runs (no project open: stored in the default project), from the HDF5 datasets.
    ASSERT_TRUE(m_window->parameters()->setTransform(QString()));
    const core::RecipeRunOutcome w8 = evaluateOk();
    EXPECT_GT(w8.runId, 0);
    ASSERT_TRUE(w8.metrics.accuracy);
    EXPECT_EQ(*w8.metrics.accuracy, referenceCorrect("w8_perchannel_sym") / 450.0);
    EXPECT_TRUE(m_window->experiments()->sessionRuns().empty());
}

TEST_F(EvaluateClassifierTest, ASweepStoresTheSameRunsThatEvaluateFinds) {
    openDigits();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    m_window->experiments()->setEvaluationData(kDigits + QStringLiteral("/test_x.npy"));
    m_window->experiments()->setLabelsData(kDigits + QStringLiteral("/test_y.npy"));
    const nlohmann::json grid = {
        {"method", {"rtn"}}, {"format", {"int8", "int4"}}, {"granularity", {"channel"}}, {"asym", {false}}};
    ASSERT_TRUE(m_window->experiments()->runSweep(grid)) << log();
    ASSERT_TRUE(waitIdle(120000)) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    ASSERT_TRUE(m_window->experiments()->lastSweep());
    const core::SweepSummary& sweep = *m_window->experiments()->lastSweep();
    ASSERT_EQ(sweep.outcomes.size(), 2u);
    auto project = core::Project::open(m_projectPath.toStdString(), false);
    ASSERT_EQ(project->runs().size(), 3u);
    const auto accuracy = [&](std::int64_t id) { return project->run(id)->metrics.accuracy.value_or(-1); };
    EXPECT_EQ(accuracy(sweep.referenceRunId), referenceCorrect("fp32") / 450.0);
    EXPECT_EQ(sweep.outcomes[0].status, "done");
    EXPECT_EQ(accuracy(sweep.outcomes[0].runId), referenceCorrect("w8_perchannel_sym") / 450.0);
    EXPECT_EQ(accuracy(sweep.outcomes[1].runId), referenceCorrect("w4_perchannel_sym") / 450.0);

    // Evaluate of a swept recipe finds the sweep's run: one path, one set of keys.
    chooseRecipe("int4");
    const core::RecipeRunOutcome w4 = evaluateOk();
    EXPECT_TRUE(w4.reused);
    EXPECT_EQ(w4.runId, sweep.outcomes[1].runId);
    EXPECT_EQ(w4.referenceRunId, sweep.referenceRunId);
}

} // namespace
