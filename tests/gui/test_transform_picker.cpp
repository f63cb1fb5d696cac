// SPDX-License-Identifier: MIT
// The transform choice of the toolbar / Parameters dock: rotate + RTN W4A4 evaluated from the main
// window stores a run whose recipe names the transform and whose perplexity equals the CLI's
// `eval --method rotate+rtn` path (method chain parsed by the core, quantized and evaluated directly);
// the Sweep dialog carries the transform into the grid as the same chain.
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
#include "sweep_dialog.h"
#include "transform/transform_pipeline.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QSettings>
#include <QTest>
#include <gtest/gtest.h>

namespace {

using namespace qs;

const QString kTestText = QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt");

class TransformPickerTest : public test::WindowTest {
protected:
    void SetUp() override {
        WindowTest::SetUp();
        m_projectPath = freshProject(QStringLiteral("transform.qsproj"));
    }

    QString m_projectPath;
};

TEST_F(TransformPickerTest, OffersNoneAndEveryRegisteredTransformWithItsParameters) {
    auto* combo = m_window->findChild<QComboBox*>(QStringLiteral("transformCombo"));
    ASSERT_NE(combo, nullptr);
    ASSERT_EQ(combo->count(), 1 + static_cast<int>(m_registries.transforms.all().size()));
    EXPECT_TRUE(m_window->parameters()->transform().isEmpty());
    EXPECT_TRUE(m_window->parameters()->transformForm()->isEmpty());
    for (const core::ModelTransform* t : m_registries.transforms.all()) {
        ASSERT_TRUE(m_window->parameters()->setTransform(QString::fromUtf8(t->name().data(), t->name().size())));
        // The form is the registry's schema, field for field.
        ASSERT_EQ(m_window->parameters()->transformForm()->schema().size(), t->params().size()) << t->name();
        for (const auto& p : t->params())
            EXPECT_NE(m_window->parameters()->transformForm()->editor(QString::fromStdString(p.name)), nullptr) << p.name;
    }
    EXPECT_FALSE(m_window->parameters()->setTransform(QStringLiteral("spin")));
    ASSERT_TRUE(m_window->parameters()->setTransform(QStringLiteral("rotate")));
    m_window->parameters()->transformForm()->setValue(QStringLiteral("rotation_seed"), 7);
    const auto recipe = m_window->parameters()->currentRecipe();
    ASSERT_TRUE(recipe);
    ASSERT_EQ(recipe->job.transforms.size(), 1u);
    EXPECT_EQ(recipe->job.transforms[0].name, "rotate");
    EXPECT_EQ(recipe->job.transforms[0].params.value("rotation_seed", 0), 7);
}

TEST_F(TransformPickerTest, RotateRtnW4A4EqualsTheCliChainAndTheSweepFindsIt) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    m_window->experiments()->setEvaluationData(kTestText);
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 4);
    ASSERT_TRUE(m_window->parameters()->setTransform(QStringLiteral("rotate")));
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
    m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int4");
    m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "channel");
    m_window->parameters()->specForm()->setValue(QStringLiteral("sym"), true);
    m_window->parameters()->actQuantEdit()->setText(QStringLiteral("int4:token"));
    ASSERT_TRUE(m_window->experiments()->evaluate()) << log();
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation());
    const core::RecipeRunOutcome e = *m_window->experiments()->lastEvaluation();

    // `eval MODEL --method rotate+rtn --format int4 --granularity channel --act-quant int4:token
    // --windows 4`, done as command_eval does it, from the chain text the CLI parses.
    const auto model = core::openModel(test::fixtureModel().toStdString());
    std::string source;
    const auto tokens = core::readTokenData(kTestText.toStdString(), model->path(), source);
    core::EvalOptions opts;
    opts.ctx = 128;
    opts.maxWindows = 4;
    const core::MethodChain chain = core::parseMethodChain("rotate+rtn", m_registries.transforms);
    core::QuantJob job;
    job.method = chain.quantizer;
    for (const auto& t : chain.transforms)
        job.transforms.push_back({t, nlohmann::json::object()});
    job.spec = core::QuantSpec::fromJson({{"format", "int4"}, {"granularity", "channel"}, {"sym", true}});
    const core::ModelQuantResult q = core::quantizeModel(*model, m_registries, job, {}, true);
    ASSERT_TRUE(q.transformed);
    const core::CausalLm reference(*model);
    core::CausalLm candidate(reference, q.weights);
    core::ForwardHooks hooks;
    hooks.activation = core::hookSpecFromString("int4:token", "--act-quant");
    candidate.setHooks(q.transformed->hooks(hooks));
    const double cliPerplexity = core::evaluatePerplexity(candidate, tokens, opts, {}).perplexity;

    auto project = core::Project::open(m_projectPath.toStdString(), false);
    const auto run = project->run(e.runId);
    ASSERT_TRUE(run && run->metrics.perplexity);
    EXPECT_DOUBLE_EQ(*run->metrics.perplexity, cliPerplexity);
    const auto recipe = nlohmann::json::parse(run->recipe);
    ASSERT_TRUE(recipe.contains("transforms")) << run->recipe;
    ASSERT_EQ(recipe["transforms"].size(), 1u) << run->recipe;
    EXPECT_EQ(recipe["transforms"][0]["name"], "rotate");
    EXPECT_EQ(recipe["method"], "rtn");
    EXPECT_EQ(recipe["activation"]["format"], "int4") << run->recipe;

    // Plain RTN W4A4 is another run with another perplexity: the rotation acted.
    ASSERT_TRUE(m_window->parameters()->setTransform(QString()));
    ASSERT_TRUE(m_window->experiments()->evaluate()) << log();
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation() && m_window->experiments()->lastEvaluation()->metrics.perplexity);
    EXPECT_NE(m_window->experiments()->lastEvaluation()->runId, e.runId);
    EXPECT_NE(*m_window->experiments()->lastEvaluation()->metrics.perplexity, cliPerplexity);
    std::cerr << "W4A4 perplexity: rotate+rtn " << cliPerplexity << ", rtn "
              << *m_window->experiments()->lastEvaluation()->metrics.perplexity << '\n';

    // The Sweep dialog's grid chains the transform before the method; its point is the stored run.
    ASSERT_TRUE(m_window->parameters()->setTransform(QStringLiteral("rotate")));
    gui::SweepSelection s = m_window->experiments()->currentSweepSelection();
    ASSERT_EQ(s.transforms, QStringList{QStringLiteral("rotate")});
    gui::SweepDialog dialog(m_registries);
    dialog.setSelection(s);
    nlohmann::json grid = dialog.grid();
    ASSERT_FALSE(grid.is_null());
    EXPECT_EQ(grid["method"], nlohmann::json::array({"rotate+rtn"})) << grid.dump();
    EXPECT_TRUE(grid.contains("rotation-seed")) << grid.dump();
    grid["act-quant"] = {"int4:token"};
    const auto points = core::expandGrid(grid, m_registries);
    EXPECT_EQ(m_window->experiments()->countExistingRuns(points), 1) << grid.dump();
}

} // namespace
