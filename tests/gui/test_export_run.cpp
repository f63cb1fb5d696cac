// SPDX-License-Identifier: MIT
// File ▸ Export run… writes what `quantscope-cli export P.qsproj --run ID --as KIND` writes, byte for byte.
#include "experiment_controller.h"
#include "jobs_dock.h"
#include "common/param_form.h"
#include "parameters_panel.h"
#include "window_test.h"

#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>

namespace {

using namespace qs;

class ExportRunTest : public test::WindowTest {};

TEST_F(ExportRunTest, WritesTheSameFilesAsTheCli) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    const QString project = freshProject(QStringLiteral("export_run.qsproj"));
    ASSERT_TRUE(m_window->experiments()->openProject(project, true));
    m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 1);
    // A mixed recipe: the GGUF holds per-tensor types and the overrides name each tensor.
    m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int4");
    m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "group");
    m_window->parameters()->specForm()->setValue(QStringLiteral("group"), 32);
    m_window->viewContext()->setLayerRules(
        nlohmann::json::array({{{"match", "*.mlp.down_proj"}, {"format", "int8"}, {"sym", true}}}));
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation()) << log();
    const qint64 id = m_window->experiments()->lastEvaluation()->runId;
    m_window->viewContext()->setSelectedRunId(id);
    EXPECT_TRUE(m_window->experiments()->exportRunAction()->isEnabled());

    const QString dir = test::outputDir() + QStringLiteral("/export_run");
    QDir(dir).removeRecursively();
    ASSERT_TRUE(QDir().mkpath(dir));
    for (const char* kind : {"recipe", "llama-overrides", "gguf"}) {
        const QString k = QLatin1String(kind);
        const QString gui = dir + QStringLiteral("/gui.") + k, cli = dir + QStringLiteral("/cli.") + k;
        ASSERT_TRUE(m_window->experiments()->exportRun(id, gui, k)) << kind;
        ASSERT_TRUE(waitIdle()) << log();
        ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << kind << log();
        QProcess p;
        p.start(QStringLiteral(QS_BIN_DIR "/quantscope-cli"),
                {QStringLiteral("export"), project, QStringLiteral("--run"), QString::number(id), QStringLiteral("--out"),
                 cli, QStringLiteral("--as"), k});
        ASSERT_TRUE(p.waitForFinished(120000));
        ASSERT_EQ(p.exitCode(), 0) << p.readAllStandardError().toStdString();
        const QByteArray a = test::readFile(gui), b = test::readFile(cli);
        ASSERT_FALSE(a.isEmpty()) << kind;
        EXPECT_TRUE(a == b) << kind << ": the GUI's export differs from the CLI's";
    }
    EXPECT_TRUE(test::readFile(dir + QStringLiteral("/gui.llama-overrides")).contains("q8_0"));
    EXPECT_TRUE(m_window->jobsDock()->statusLabel()->text().contains(QStringLiteral("Exported run")));
}

} // namespace
