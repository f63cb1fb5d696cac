// SPDX-License-Identifier: MIT
// Small parts of the GUI: command line, job status text, the generic parameter form, headless run.
#include "command_line.h"
#include "gui_test_support.h"
#include "experiment_controller.h"
#include "jobs_dock.h"
#include "parameters_panel.h"
#include <quantscope/plugin/job_service.h>
#include "common/param_form.h"
#include "quant/quant_spec.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTest>
#include <gtest/gtest.h>

namespace {

using namespace qs;

TEST(CommandLine, ParsesModelHeadlessAndSpecFlags) {
    const auto cl = gui::parseCommandLine({"quantscope", "/m", "--headless", "--format", "int8",
                                           "--granularity=channel", "--group", "64", "--sym"});
    EXPECT_TRUE(cl.error.isEmpty()) << cl.error.toStdString();
    EXPECT_EQ(cl.modelPath, QStringLiteral("/m"));
    EXPECT_TRUE(cl.headless);
    EXPECT_EQ(cl.spec.at("format"), "int8");
    EXPECT_EQ(cl.spec.at("granularity"), "channel");
    EXPECT_EQ(cl.spec.at("group"), 64);
    EXPECT_EQ(cl.spec.at("sym"), true);
    EXPECT_EQ(gui::parseCommandLine({"quantscope", "--asym"}).spec.at("sym"), false);
}

TEST(CommandLine, RejectsUnknownOptionsAndBadValues) {
    EXPECT_FALSE(gui::parseCommandLine({"quantscope", "--frobnicate"}).error.isEmpty());
    EXPECT_FALSE(gui::parseCommandLine({"quantscope", "--format", "int99"}).error.isEmpty());
    EXPECT_FALSE(gui::parseCommandLine({"quantscope", "--group"}).error.isEmpty());
    EXPECT_TRUE(gui::commandLineHelp().contains(QStringLiteral("--sym|--asym")));
}

TEST(CommandLine, DefaultSpecIsRtnInt4AsymGroup32) {
    const auto spec = core::QuantSpec::fromJson(gui::defaultSpecValues());
    EXPECT_EQ(spec.label(), "int4 asym group 32");
}

TEST(JobStatus, ReadsLikeTheDesign) {
    EXPECT_EQ(plugins::formatJobStatus(QStringLiteral("RTN"), QStringLiteral("layer"), 11, 28, 41.2),
              QStringLiteral("RTN layer 12/28 · 00:41 left"));
    EXPECT_EQ(plugins::formatJobStatus(QStringLiteral("RTN"), QStringLiteral("layer"), 28, 28, std::nullopt),
              QStringLiteral("RTN layer 28/28"));
    EXPECT_EQ(plugins::formatJobStatus(QStringLiteral("GPTQ"), QStringLiteral("layer"), 3, 32, 125.0),
              QStringLiteral("GPTQ layer 4/32 · 02:05 left"));
}

TEST(JobService, ReportsFailureAndSuccessWithoutThrowing) {
    test::ensureApp();
    plugins::JobService jobs;
    QSignalSpy finished(&jobs, &plugins::JobService::finished);
    QSignalSpy logged(&jobs, &plugins::JobService::logged);
    std::vector<plugins::JobState> ends;
    const auto onEnd = [&ends](plugins::JobState state, const QString&) { ends.push_back(state); };
    ASSERT_TRUE(jobs.start({QStringLiteral("Opening m"), QStringLiteral("T"), QStringLiteral("step"),
                            [](const core::JobContext&) -> std::function<void()> {
                                throw core::Error("model.safetensors: truncated");
                            },
                            onEnd}));
    ASSERT_TRUE(finished.wait(10000));
    EXPECT_EQ(jobs.state(), plugins::JobState::Failed);
    EXPECT_EQ(finished.at(0).at(1).toString(), QStringLiteral("model.safetensors: truncated"));
    // What every job says when it fails is said once, by the service, naming the job.
    ASSERT_EQ(logged.size(), 1);
    EXPECT_EQ(logged.at(0).at(1).toString(), QStringLiteral("Opening m failed: model.safetensors: truncated"));

    bool applied = false;
    ASSERT_TRUE(jobs.start({QStringLiteral("T"), QStringLiteral("T"), QStringLiteral("step"),
                            [&applied](const core::JobContext& ctx) {
                                for (int i = 0; i < 3; ++i)
                                    ctx.step(i, 3, "x");
                                return std::function<void()>([&applied] { applied = true; });
                            },
                            onEnd}));
    EXPECT_FALSE(jobs.start({QStringLiteral("again"), QStringLiteral("again"), QStringLiteral("step"), {}, {}}))
        << "one at a time";
    ASSERT_TRUE(finished.wait(10000));
    EXPECT_EQ(jobs.state(), plugins::JobState::Succeeded);
    EXPECT_TRUE(applied);
    // Each job's own end handler ran once, before finished().
    EXPECT_EQ(ends, (std::vector<plugins::JobState>{plugins::JobState::Failed, plugins::JobState::Succeeded}));
}

TEST(ParamForm, BuildsOneEditorPerParameterType) {
    test::ensureApp();
    core::ParamSchema schema{
        {"bits", core::ParamType::Int, 4, 2, 8, {}, "bits per code", "Bits"},
        {"damp", core::ParamType::Float, 0.01, 0.0, 1.0, {}, "dampening", "Damp"},
        {"act_order", core::ParamType::Bool, true, 1, 0, {}, "order by activation", "Act order"},
        {"mode", core::ParamType::Choice, "a", 1, 0, {"a", "b"}, "mode", "Mode"},
    };
    views::ParamForm form;
    form.setSchema(schema, {{"bits", 3}});
    auto* bits = qobject_cast<QSpinBox*>(form.editor(QStringLiteral("bits")));
    ASSERT_NE(bits, nullptr);
    EXPECT_EQ(bits->minimum(), 2);
    EXPECT_EQ(bits->maximum(), 8);
    EXPECT_TRUE(bits->toolTip().contains(QStringLiteral("bits per code")));
    EXPECT_NE(qobject_cast<QDoubleSpinBox*>(form.editor(QStringLiteral("damp"))), nullptr);
    EXPECT_NE(qobject_cast<QCheckBox*>(form.editor(QStringLiteral("act_order"))), nullptr);
    EXPECT_NE(qobject_cast<QComboBox*>(form.editor(QStringLiteral("mode"))), nullptr);
    const nlohmann::json v = form.values();
    EXPECT_EQ(v.at("bits"), 3);
    EXPECT_DOUBLE_EQ(v.at("damp").get<double>(), 0.01);
    EXPECT_EQ(v.at("act_order"), true);
    EXPECT_EQ(v.at("mode"), "a");
    // What the form produces passes the engine's own validation.
    EXPECT_NO_THROW(core::validateParams(schema, v, "test"));
    QSignalSpy changed(&form, &views::ParamForm::valueChanged);
    form.setValue(QStringLiteral("mode"), "b");
    EXPECT_EQ(changed.count(), 1);
    EXPECT_EQ(form.values().at("mode"), "b");
}

TEST(Headless, PrintsTheLayerTableAndTheQuantResult) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("DISPLAY"));
    env.remove(QStringLiteral("WAYLAND_DISPLAY"));
    env.remove(QStringLiteral("QT_QPA_PLATFORM"));
    p.setProcessEnvironment(env);
    // No --headless: with no display the app must not try to open a window.
    p.start(QStringLiteral(QS_BIN_DIR "/quantscope"),
            {test::fixtureModel(), QStringLiteral("--format"), QStringLiteral("int8")});
    ASSERT_TRUE(p.waitForFinished(120000));
    const QString out = QString::fromUtf8(p.readAllStandardOutput());
    const QString err = QString::fromUtf8(p.readAllStandardError());
    EXPECT_EQ(p.exitStatus(), QProcess::NormalExit);
    EXPECT_EQ(p.exitCode(), 0) << err.toStdString();
    EXPECT_TRUE(out.contains(QStringLiteral("model.layers.3.mlp.down_proj"))) << out.toStdString();
    EXPECT_TRUE(out.contains(QStringLiteral("int8"))) << out.toStdString();
    EXPECT_FALSE(err.contains(QStringLiteral("xcb"))) << err.toStdString();
}

// The first thing a new user sees: scripts/setup.sh on a machine without a display runs
// `build/bin/quantscope --headless resources/demo` from the source root. Naming the demo directory
// must give the README's perplexity table (fp32 and five recipes on sample.txt) and the demo
// classifier, as running with no model does; the absolute path with a trailing slash must too.
TEST(Headless, TheDemoDirectoryByPathComparesRecipes) {
    for (const QString& demo :
         {QStringLiteral("resources/demo"), QStringLiteral(QS_SOURCE_DIR "/resources/demo/")}) {
        QProcess p;
        p.setWorkingDirectory(QStringLiteral(QS_SOURCE_DIR));
        p.start(QStringLiteral(QS_BIN_DIR "/quantscope"), {QStringLiteral("--headless"), demo});
        ASSERT_TRUE(p.waitForFinished(300000)) << demo.toStdString();
        const QString out = QString::fromUtf8(p.readAllStandardOutput());
        ASSERT_EQ(p.exitCode(), 0) << demo.toStdString() << ": " << p.readAllStandardError().toStdString();

        const qsizetype table = out.indexOf(QStringLiteral("Perplexity on "));
        ASSERT_GE(table, 0) << demo.toStdString() << ":\n" << out.toStdString();
        const QStringList lines = out.mid(table).split(QLatin1Char('\n'));
        EXPECT_TRUE(QRegularExpression(QStringLiteral(R"(^Perplexity on \d+ scored tokens \(\d+ windows of \d+\): )"
                                                      R"(fp32 \d+\.\d{4}$)"))
                        .match(lines[0])
                        .hasMatch())
            << lines[0].toStdString();
        // One row per recipe: "rtn FORMAT ..." then bits/w, ppl, delta, mean KLD and top-1 %.
        const QRegularExpression row(QStringLiteral(R"(^rtn (\w+) .* (\d+\.\d{3}) +(\d+\.\d{4}) +[+-]\d+\.\d{4} +)"
                                                    R"(\d+\.\d{5} +\d+\.\d{2}$)"));
        QStringList formats;
        for (const QString& line : lines)
            if (const auto m = row.match(line); m.hasMatch()) formats << m.captured(1);
        EXPECT_EQ(formats, (QStringList{QStringLiteral("int4"), QStringLiteral("int8"), QStringLiteral("mxfp4"),
                                        QStringLiteral("nvfp4"), QStringLiteral("int3")}))
            << out.mid(table).toStdString();
        EXPECT_TRUE(out.contains(QStringLiteral("sample.txt"))) << out.toStdString();
        EXPECT_TRUE(out.contains(QStringLiteral("Demo classifier"))) << out.toStdString();
        EXPECT_EQ(out.count(QStringLiteral(" accuracy ")), 3) << out.toStdString();
    }
}

TEST(Headless, ABadModelExitsNonZeroWithTheReason) {
    QProcess p;
    p.start(QStringLiteral(QS_BIN_DIR "/quantscope"),
            {QStringLiteral("/nonexistent/model"), QStringLiteral("--headless")});
    ASSERT_TRUE(p.waitForFinished(60000));
    EXPECT_NE(p.exitCode(), 0);
    EXPECT_TRUE(QString::fromUtf8(p.readAllStandardError()).contains(QStringLiteral("/nonexistent/model")));
}

} // namespace
