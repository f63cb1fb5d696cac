// SPDX-License-Identifier: MIT
// The first five minutes, offscreen, as a new user meets the window: open the demo, Evaluate, and the
// result lands somewhere visible (a point on the Pareto view, a row in Runs) without choosing data or
// creating a project first.
#include "experiment_controller.h"
#include "common/param_form.h"
#include "pareto_view.h"
#include "window_test.h"

#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QToolButton>
#include <QDockWidget>
#include <QScrollArea>

namespace {

using namespace qs;

class FirstMinutesTest : public test::WindowTest {};

TEST_F(FirstMinutesTest, OpenTheDemoEvaluateAndSeeAPointOnTheParetoView) {
    const QString demo = QStringLiteral(QS_SOURCE_DIR "/resources/demo");
    m_window->resize(1600, 1000);
    m_window->show();
    ASSERT_NO_FATAL_FAILURE(openAndWait(demo));
    // The demo ships sample.txt: it is the evaluation data without a dialog.
    EXPECT_TRUE(m_window->experiments()->evaluationData().endsWith(QStringLiteral("resources/demo/sample.txt")))
        << m_window->experiments()->evaluationData().toStdString();
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 4);
    ASSERT_TRUE(m_window->experiments()->evaluate()) << log();
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    // Stored in the default project, named in the status bar.
    EXPECT_TRUE(m_window->experiments()->projectLabel()->text().contains(QStringLiteral("default.qsproj")))
        << m_window->experiments()->projectLabel()->text().toStdString();
    auto* pareto = qobject_cast<views::ParetoView*>(m_window->view(QStringLiteral("pareto")));
    ASSERT_NE(pareto, nullptr);
    QTest::qWait(50); // the views reload on the project's signals
    std::size_t points = 0;
    for (const auto& s : pareto->data().series) points += s.points.size();
    EXPECT_EQ(points, 1u) << pareto->statusText().toStdString();
    EXPECT_GT(pareto->data().referenceRunId, 0);
    EXPECT_FALSE(pareto->statusText().contains(QStringLiteral("No project")));
    // The Parameters dock is not narrower than its forms: nothing cut off at the right edge.
    auto* dock = m_window->findChild<QDockWidget*>(QStringLiteral("parametersDock"));
    ASSERT_NE(dock, nullptr);
    auto* scroll = dock->findChild<QScrollArea*>();
    ASSERT_NE(scroll, nullptr);
    EXPECT_GE(scroll->viewport()->width(), scroll->widget()->minimumSizeHint().width());
    // The toolbar's recipe combos are on screen, a second face of the Parameters dock.
    for (const char* combo : {"transformCombo", "methodCombo", "formatCombo", "granularityCombo"})
        EXPECT_TRUE(m_window->findChild<QComboBox*>(QLatin1String(combo))->isVisible()) << combo;
    // A laptop screen of 1366 pixels holds the whole window.
    EXPECT_LE(m_window->minimumSizeHint().width(), 1366);
    m_window->grab().save(test::outputDir() + QStringLiteral("/first-minutes.png")); // for a human look
}

// Help ▸ Getting started walks the path; the Data button names the chosen files; data dialogs start
// beside the model.
TEST_F(FirstMinutesTest, GettingStartedAndTheChosenDataAreInSight) {
    const QString demo = QStringLiteral(QS_SOURCE_DIR "/resources/demo");
    ASSERT_NO_FATAL_FAILURE(openAndWait(demo));
    auto* help = m_window->findChild<QAction*>(QStringLiteral("gettingStartedAction"));
    ASSERT_NE(help, nullptr);
    help->trigger();
    auto* text = m_window->findChild<QLabel*>(QStringLiteral("gettingStartedText"));
    ASSERT_NE(text, nullptr);
    for (const char* step : {"Open a model", "Choose data", "Run ▶", "Evaluate", "Load into form"})
        EXPECT_TRUE(text->text().contains(QString::fromUtf8(step))) << step;

    auto* data = m_window->experiments()->dataButton();
    EXPECT_EQ(data->text(), QStringLiteral("Data: sample.txt"));
    EXPECT_TRUE(data->toolTip().contains(QStringLiteral("resources/demo/sample.txt")));
    m_window->experiments()->setCalibrationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt"));
    EXPECT_EQ(data->text(), QStringLiteral("Data: sample.txt · calib calib.txt"));
    EXPECT_EQ(QDir(m_window->experiments()->dataDialogStart()).canonicalPath(), QDir(demo).canonicalPath());
}

} // namespace
