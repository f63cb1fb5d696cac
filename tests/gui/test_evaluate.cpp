// SPDX-License-Identifier: MIT
// Evaluate from the main window, offscreen: the stored figures equal a direct core evaluation, the runs
// carry the sweep's keys, cancel stores nothing, without a project the runs go to the default project.
#include "blocking_quantizer.h"
#include "builtin_views.h"
#include "experiment/builtins.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "eval/perplexity.h"
#include "data/token_data.h"
#include "gui_test_support.h"
#include "window_test.h"
#include "experiment_controller.h"
#include "jobs_dock.h"
#include "parameters_panel.h"
#include <quantscope/plugin/job_service.h>
#include "main_window.h"
#include "nn/causal_lm.h"
#include "common/param_form.h"
#include "store/project.h"
#include "experiment/sweep.h"

#include <QAction>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSettings>
#include <QTest>
#include <gtest/gtest.h>

namespace {

using namespace qs;

const QString kTestText = QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt");

using test::BlockingQuantizer;

class EvaluateTest : public test::WindowTest {
protected:
    void SetUp() override {
        WindowTest::SetUp();
        m_projectPath = freshProject(QStringLiteral("evaluate.qsproj"));
    }
    void addQuantizers(core::Registries& r) override { r.quantizers.add(std::make_unique<BlockingQuantizer>()); }
    void openFixture() { ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel())); }
    // RTN int4 sym group 32 on 4 windows of the test text.
    void chooseRecipe() {
        ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
        m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int4");
        m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "group");
        m_window->parameters()->specForm()->setValue(QStringLiteral("group"), 32);
        m_window->parameters()->specForm()->setValue(QStringLiteral("sym"), true);
        m_window->experiments()->setEvaluationData(kTestText);
        m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 4);
    }
    // What chooseRecipe evaluates, as the core reads it: the test text's tokens, 4 windows of 128.
    static std::vector<std::int32_t> textTokens(const core::Model& model) {
        std::string source;
        return core::readTokenData(kTestText.toStdString(), model.path(), source);
    }
    static core::EvalOptions fourWindows() {
        core::EvalOptions opts;
        opts.ctx = 128;
        opts.maxWindows = 4;
        return opts;
    }
    core::QuantJob expectedJob() const {
        core::QuantJob job;
        job.method = "rtn";
        job.spec = core::QuantSpec::fromJson(
            {{"format", "int4"}, {"granularity", "group"}, {"group", 32}, {"sym", true}});
        return job;
    }

    QString m_projectPath;
};

TEST_F(EvaluateTest, StoresRunsThatMatchADirectEvaluation) {
    openFixture();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    EXPECT_EQ(m_window->viewContext()->projectPath(), QFileInfo(m_projectPath).absoluteFilePath());
    EXPECT_TRUE(m_window->experiments()->projectLabel()->text().contains(QStringLiteral("evaluate.qsproj")))
        << m_window->experiments()->projectLabel()->text().toStdString();
    chooseRecipe();
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation());
    const core::RecipeRunOutcome e = *m_window->experiments()->lastEvaluation();
    EXPECT_FALSE(e.reused);
    EXPECT_GT(e.runId, 0);
    EXPECT_GT(e.referenceRunId, 0);
    EXPECT_EQ(m_window->viewContext()->selectedRunId(), e.runId);
    EXPECT_TRUE(m_window->experiments()->evaluationLabel()->text().startsWith(QStringLiteral("ppl ")))
        << m_window->experiments()->evaluationLabel()->text().toStdString();
    EXPECT_NE(log().find("stored as run #"), std::string::npos) << log();
    m_window->resize(1400, 900);
    m_window->grab().save(test::outputDir() + QStringLiteral("/evaluate-window.png")); // for a human look

    // The independent path: core only, same data and windows.
    const auto model = core::openModel(test::fixtureModel().toStdString());
    const auto tokens = textTokens(*model);
    const core::EvalOptions opts = fourWindows();
    const core::CausalLm reference(*model);
    const core::PerplexityResult fp32 = core::evaluatePerplexity(reference, tokens, opts, {});
    const core::ModelQuantResult q = core::quantizeModel(*model, m_registries, expectedJob(), {}, true);
    const core::CausalLm candidate(reference, q.weights);
    const core::PerplexityResult quant = core::evaluatePerplexity(candidate, tokens, opts, {});

    auto project = core::Project::open(m_projectPath.toStdString(), false);
    const auto runs = project->runs();
    ASSERT_EQ(runs.size(), 2u);
    const auto run = project->run(e.runId);
    const auto ref = project->run(e.referenceRunId);
    ASSERT_TRUE(run && ref);
    EXPECT_EQ(run->status, "finished");
    EXPECT_DOUBLE_EQ(*run->metrics.perplexity, quant.perplexity);
    EXPECT_DOUBLE_EQ(*run->metrics.referencePerplexity, fp32.perplexity);
    EXPECT_DOUBLE_EQ(*ref->metrics.perplexity, fp32.perplexity);
    EXPECT_DOUBLE_EQ(*run->metrics.bitsPerWeight, q.bitsPerWeight);
    ASSERT_TRUE(run->metrics.kldMean && run->metrics.kldP99 && run->metrics.top1Agreement);
    EXPECT_GT(*run->metrics.kldMean, 0.0);
    EXPECT_GT(*run->metrics.top1Agreement, 0.5);
    EXPECT_EQ(ref->recipe, "{}");
    EXPECT_EQ(run->evalSettings, core::evalSettingsKey(opts, "", 0));
    EXPECT_EQ(run->recipe, core::recipeFromJson(expectedJob().toJson(), m_registries).canonical());
    EXPECT_EQ(project->layers(e.runId).size(), q.layers.size());
    EXPECT_EQ(project->runArrays(e.runId).layers.size(), q.layers.size());

    // A sweep over the same point finds it and runs nothing.
    const auto points = core::expandGrid({{"method", {"rtn"}},
                                          {"format", {"int4"}},
                                          {"granularity", {"group"}},
                                          {"group", {32}},
                                          {"asym", {false}}},
                                         m_registries);
    core::SweepOptions so;
    so.model = test::fixtureModel().toStdString();
    so.data = kTestText.toStdString();
    so.eval = opts;
    const core::SweepSummary summary = core::runSweep(*project, points, so, m_registries, {});
    EXPECT_EQ(summary.referenceRunId, e.referenceRunId);
    ASSERT_EQ(summary.outcomes.size(), 1u);
    EXPECT_EQ(summary.outcomes[0].status, "skipped") << summary.toJson().dump();
    EXPECT_EQ(project->runs().size(), 2u);

    // Evaluating the same recipe again reuses the stored run.
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation());
    EXPECT_TRUE(m_window->experiments()->lastEvaluation()->reused);
    EXPECT_EQ(m_window->experiments()->lastEvaluation()->runId, e.runId);
    EXPECT_EQ(project->runs().size(), 2u);
}

TEST_F(EvaluateTest, Bf16ProductsFromTheEvaluationFormAreStoredUnderTheirSettings) {
    // The Evaluation form's "Products" choice (the schema's compute key) reaches the run: its figures
    // equal a direct core evaluation with bf16 products, and its settings key says so.
    openFixture();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    chooseRecipe();
    m_window->parameters()->evalForm()->setValue(QStringLiteral("compute"), "bf16");
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    const core::RecipeRunOutcome e = *m_window->experiments()->lastEvaluation();

    const auto model = core::openModel(test::fixtureModel().toStdString());
    const auto tokens = textTokens(*model);
    core::EvalOptions opts = fourWindows();
    opts.bf16Products = true;
    core::ForwardHooks hooks;
    hooks.bf16Products = true;
    core::CausalLm reference(*model);
    reference.setHooks(hooks);
    const core::ModelQuantResult q = core::quantizeModel(*model, m_registries, expectedJob(), {}, true);
    core::CausalLm candidate(reference, q.weights);
    candidate.setHooks(hooks);
    auto project = core::Project::open(m_projectPath.toStdString(), false);
    const auto run = project->run(e.runId);
    ASSERT_TRUE(run);
    EXPECT_DOUBLE_EQ(*run->metrics.perplexity, core::evaluatePerplexity(candidate, tokens, opts, {}).perplexity);
    EXPECT_DOUBLE_EQ(*run->metrics.referencePerplexity, core::evaluatePerplexity(reference, tokens, opts, {}).perplexity);
    EXPECT_EQ(run->evalSettings, core::evalSettingsKey(opts, "", 0));
    EXPECT_NE(run->evalSettings.find("bf16"), std::string::npos) << run->evalSettings;
}

TEST_F(EvaluateTest, CancelLeavesTheProjectReadableWithoutAHalfRun) {
    openFixture();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    chooseRecipe();
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("blocking")));
    BlockingQuantizer::entered = false;
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(QTest::qWaitFor([] { return BlockingQuantizer::entered.load(); }, 60000)) << log();
    m_window->cancelJob();
    ASSERT_TRUE(waitIdle()) << log();
    EXPECT_EQ(m_window->jobs()->state(), plugins::JobState::Cancelled) << log();
    EXPECT_FALSE(m_window->experiments()->lastEvaluation());
    {
        auto project = core::Project::open(m_projectPath.toStdString(), false);
        EXPECT_TRUE(project->runs().empty());
    }
    // The project stays usable: the next Evaluate stores normally.
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    auto project = core::Project::open(m_projectPath.toStdString(), false);
    EXPECT_EQ(project->runs().size(), 2u);
    for (const auto& r : project->runs())
        EXPECT_EQ(r.status, "finished");
}

TEST_F(EvaluateTest, WithoutAProjectRunsGoToTheDefaultProject) {
    openFixture();
    chooseRecipe();
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 1);
    EXPECT_EQ(m_window->experiments()->project(), nullptr);
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    // Created on first use in the user's data folder, named in the status bar.
    const QString path = gui::ExperimentController::defaultProjectPath();
    ASSERT_NE(m_window->experiments()->project(), nullptr);
    EXPECT_EQ(QString::fromStdString(m_window->experiments()->project()->path().string()), path);
    EXPECT_TRUE(QFileInfo::exists(path));
    EXPECT_TRUE(m_window->experiments()->projectLabel()->text().contains(QStringLiteral("default.qsproj")))
        << m_window->experiments()->projectLabel()->text().toStdString();
    EXPECT_TRUE(m_window->experiments()->sessionRuns().empty());
    ASSERT_TRUE(m_window->experiments()->lastEvaluation());
    EXPECT_GT(m_window->experiments()->lastEvaluation()->runId, 0);
    EXPECT_EQ(m_window->experiments()->project()->runs().size(), 2u); // fp32 reference + the recipe
    EXPECT_NE(log().find("default project"), std::string::npos) << log();
}

TEST_F(EvaluateTest, RemembersDataPerModelAndTheLastProject) {
    openFixture();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    m_window->experiments()->setEvaluationData(kTestText);
    m_window->experiments()->setCalibrationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt"));
    m_window->close();
    m_window = std::make_unique<gui::MainWindow>(m_registries, m_plugins);
    EXPECT_EQ(m_window->viewContext()->projectPath(), QFileInfo(m_projectPath).absoluteFilePath());
    ASSERT_NE(m_window->experiments()->project(), nullptr);
    EXPECT_TRUE(m_window->experiments()->evaluationData().isEmpty()); // no model yet
    openFixture();
    EXPECT_EQ(m_window->experiments()->evaluationData(), QFileInfo(kTestText).absoluteFilePath());
    EXPECT_TRUE(m_window->experiments()->calibrationData().endsWith(QStringLiteral("calib.txt")));
}

TEST_F(EvaluateTest, CalibratedMethodsUseTheCalibrationData) {
    openFixture();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    chooseRecipe();
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 1);
    m_window->parameters()->evalForm()->setValue(QStringLiteral("calib_windows"), 2);
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("gptq")));
    EXPECT_FALSE(m_window->experiments()->evaluate()); // no calibration data yet
    const QString calib = QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt");
    m_window->experiments()->setCalibrationData(calib);
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation());
    core::EvalOptions opts;
    opts.ctx = 128;
    opts.maxWindows = 1;
    // The sweep's key for a grid with "calib" and "calib-windows": 2.
    EXPECT_EQ(m_window->experiments()->lastEvaluation()->evalSettings,
              core::evalSettingsKey(opts, QFileInfo(calib).absoluteFilePath().toStdString(), 2));
    auto project = core::Project::open(m_projectPath.toStdString(), false);
    const auto run = project->run(m_window->experiments()->lastEvaluation()->runId);
    ASSERT_TRUE(run);
    EXPECT_NE(run->recipe.find("gptq"), std::string::npos);
}

TEST_F(EvaluateTest, ExportsTheProjectReport) {
    QString error;
    EXPECT_FALSE(m_window->experiments()->exportReport(test::outputDir() + QStringLiteral("/none.html"), &error));
    openFixture();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    chooseRecipe();
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 1);
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    EXPECT_TRUE(m_window->experiments()->reportAction()->isEnabled());
    const QString out = test::outputDir() + QStringLiteral("/evaluate-report.html");
    QFile::remove(out);
    ASSERT_TRUE(m_window->experiments()->exportReport(out, &error)) << error.toStdString();
    const QByteArray text = test::readFile(out);
    ASSERT_FALSE(text.isEmpty());
    EXPECT_TRUE(text.contains("rtn")) << "the report names the evaluated run";
    // The evaluated run is the selected one, and the report says where it was chosen: here, not a command line.
    EXPECT_TRUE(text.contains("chosen in the GUI")) << "the report's provenance of the chosen run";
    EXPECT_FALSE(text.contains("chosen on the command line"));
    // The report dialog's choices: another featured run (the fp32 reference is not one) and fewer sections.
    const QString part = test::outputDir() + QStringLiteral("/evaluate-report-part.html");
    ASSERT_TRUE(m_window->experiments()->exportReport(part, &error, 0, {"pareto", "runs"})) << error.toStdString();
    const QByteArray partText = test::readFile(part);
    ASSERT_FALSE(partText.isEmpty());
    EXPECT_TRUE(partText.contains("Pareto front"));
    EXPECT_TRUE(partText.contains("All runs"));
    EXPECT_FALSE(partText.contains("Method comparison"));
}

TEST_F(EvaluateTest, ExplainsWhatIsMissing) {
    EXPECT_FALSE(m_window->experiments()->evaluate()); // no model
    openFixture();
    EXPECT_FALSE(m_window->experiments()->evaluate()); // no evaluation data
    EXPECT_NE(log().find("evaluation data"), std::string::npos) << log();
    m_window->experiments()->setEvaluationData(kTestText);
    m_window->parameters()->actQuantEdit()->setText(QStringLiteral("int8:nonsense"));
    EXPECT_FALSE(m_window->experiments()->evaluate());
    EXPECT_FALSE(m_window->jobs()->isRunning());
}

} // namespace

namespace {

TEST_F(EvaluateTest, SelectingARunMakesItTheCurrentResultEverywhere) {
    openFixture();
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    chooseRecipe(); // int4 sym group 32
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 1);
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    const std::int64_t int4 = m_window->experiments()->lastEvaluation()->runId;
    m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int8");
    m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "channel");
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    const std::int64_t int8 = m_window->experiments()->lastEvaluation()->runId;
    ASSERT_NE(int4, int8);
    const QString q = QStringLiteral("model.layers.1.self_attn.q_proj.weight"); // 192 x 192
    const auto bitsOf = [&] {
        const auto* r = m_window->viewContext()->layerResult(q);
        return r ? r->bitsPerWeight : -1.0;
    };
    // The Pareto view, the Runs view and the window share one selected run: selecting one shows its
    // per-layer figures from the project.
    m_window->viewContext()->setSelectedRunId(int4);
    EXPECT_DOUBLE_EQ(bitsOf(), 4.0 + 16.0 / 32); // sym group 32: an fp16 scale per group
    EXPECT_TRUE(m_window->viewContext()->isQuantResultComplete());
    m_window->viewContext()->setSelectedRunId(int8);
    EXPECT_DOUBLE_EQ(bitsOf(), 8.0 + 16.0 / 192); // sym per channel
    auto project = core::Project::open(m_projectPath.toStdString(), false);
    for (const auto& l : project->layers(int8))
        if (l.name == q.toStdString()) {
            EXPECT_DOUBLE_EQ(l.bitsPerWeight, bitsOf());
        }
    // The status bar's whole-model bits are the run's, as a direct quantization counts them.
    const core::Recipe recipe = core::recipeFromJson(nlohmann::json::parse(project->run(int8)->recipe), m_registries);
    const core::ModelQuantResult direct =
        core::quantizeModel(*m_window->viewContext()->model(), m_registries, recipe.job, {}, false);
    EXPECT_NEAR(m_window->viewContext()->quantResult()->modelBitsPerWeight, direct.modelBitsPerWeight, 1e-9);
    EXPECT_TRUE(m_window->bitsLabel()->text().contains(QString::number(direct.modelBitsPerWeight, 'f', 3)))
        << m_window->bitsLabel()->text().toStdString();
    // The fp32 reference quantizes nothing.
    m_window->viewContext()->setSelectedRunId(m_window->experiments()->lastEvaluation()->referenceRunId);
    EXPECT_FALSE(m_window->viewContext()->quantResult());
}

} // namespace
