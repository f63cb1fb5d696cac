// SPDX-License-Identifier: MIT
// The Sweep… dialog: check boxes → the CLI's grid JSON, point counts, saving; a 2-point sweep from
// the main window stores 2 runs plus the fp32 reference.
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
#include "store/project.h"
#include "experiment/sweep.h"
#include "sweep_dialog.h"

#include <QCheckBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QTest>
#include <fstream>
#include <gtest/gtest.h>

namespace {

using namespace qs;

// Ticks the items whose data (Qt::UserRole) is in `values`, as a user would.
void tick(QListWidget* list, const QVariantList& values) {
    for (int i = 0; i < list->count(); ++i)
        if (values.contains(list->item(i)->data(Qt::UserRole))) list->item(i)->setCheckState(Qt::Checked);
}

class SweepDialogTest : public ::testing::Test {
protected:
    void SetUp() override {
        test::ensureApp();
        QSettings().clear();
        core::registerBuiltins(m_registries);
    }
    core::Registries m_registries;
};

TEST_F(SweepDialogTest, BuildsTheGridOfItsCheckBoxes) {
    gui::SweepDialog dialog(m_registries);
    dialog.setSelection({}); // nothing ticked
    EXPECT_TRUE(dialog.grid().is_null());
    EXPECT_FALSE(dialog.runButton()->isEnabled());

    tick(dialog.methodList(), {QStringLiteral("rtn")});
    tick(dialog.formatList(), {QStringLiteral("int4"), QStringLiteral("int8")});
    tick(dialog.granularityList(), {QStringLiteral("channel"), QStringLiteral("group")});
    tick(dialog.groupList(), {32, 128});
    dialog.symBox()->setChecked(true);
    dialog.asymBox()->setChecked(true);

    const nlohmann::json expected = nlohmann::json::parse(R"({
        "method": ["rtn"],
        "format": ["int4", "int8"],
        "granularity": ["channel", "group"],
        "group": [32, 128],
        "asym": [false, true]
    })");
    EXPECT_EQ(dialog.grid(), expected) << dialog.grid().dump();
    EXPECT_EQ(dialog.pointCount(), 1 * 2 * 2 * 2 * 2);
    EXPECT_EQ(dialog.validCount(), dialog.pointCount());
    EXPECT_TRUE(dialog.summaryLabel()->text().contains(QStringLiteral("16 points")))
        << dialog.summaryLabel()->text().toStdString();
    EXPECT_TRUE(dialog.runButton()->isEnabled());

    // Without "group" granularity the group sizes do not enter the grid.
    dialog.granularityList()->item(2)->setCheckState(Qt::Unchecked); // tensor, channel, group, ...
    EXPECT_FALSE(dialog.grid().contains("group")) << dialog.grid().dump();
    EXPECT_FALSE(dialog.groupList()->isEnabled());

    // Saved grids are what the CLI reads.
    const QString file = test::outputDir() + QStringLiteral("/sweep-grid.json");
    QString error;
    ASSERT_TRUE(dialog.saveGrid(file, &error)) << error.toStdString();
    std::ifstream in(file.toStdString());
    const nlohmann::json saved = nlohmann::json::parse(in);
    EXPECT_EQ(saved, dialog.grid());
    EXPECT_EQ(core::expandGrid(saved, m_registries).size(), 4u); // rtn × {int4, int8} × channel × {sym, asym}
}

TEST_F(SweepDialogTest, FixedBlockFormatsWithOtherGranularitiesAreCountedInvalid) {
    gui::SweepDialog dialog(m_registries);
    gui::SweepSelection s;
    s.methods = {QStringLiteral("rtn")};
    s.formats = {QStringLiteral("int4"), QStringLiteral("mxfp4")};
    s.granularities = {QStringLiteral("group")};
    s.groups = {32};
    dialog.setSelection(s);
    EXPECT_EQ(dialog.pointCount(), 2);
    EXPECT_EQ(dialog.validCount(), 1);
    EXPECT_TRUE(dialog.summaryLabel()->text().contains(QStringLiteral("1 invalid")))
        << dialog.summaryLabel()->text().toStdString();
}

// "To run" counts recipes, not points: a group size outside group granularity changes nothing.
TEST_F(SweepDialogTest, ToRunCountsDistinctRecipes) {
    gui::SweepDialog dialog(m_registries);
    gui::SweepSelection s;
    s.methods = {QStringLiteral("rtn")};
    s.formats = {QStringLiteral("int4"), QStringLiteral("int8")};
    s.granularities = {QStringLiteral("channel"), QStringLiteral("group")};
    s.groups = {32, 128};
    dialog.setSelection(s);
    // Points: 2 formats x (channel x 2 groups + group x 2 groups) = 8; channel's two groups are one recipe.
    EXPECT_EQ(dialog.pointCount(), 8);
    EXPECT_EQ(dialog.validCount(), 8);
    EXPECT_EQ(dialog.uniqueCount(), 6);
    EXPECT_TRUE(dialog.summaryLabel()->text().contains(QStringLiteral("6 to run")))
        << dialog.summaryLabel()->text().toStdString();
    EXPECT_TRUE(dialog.summaryLabel()->text().contains(QStringLiteral("2 the same recipe as another point")));
}

TEST_F(SweepDialogTest, CalibratedMethodsNeedCalibrationDataAndCarryIt) {
    gui::SweepDialog dialog(m_registries);
    gui::SweepSelection s;
    s.methods = {QStringLiteral("gptq")};
    s.formats = {QStringLiteral("int4")};
    s.granularities = {QStringLiteral("channel")};
    dialog.setSelection(s);
    EXPECT_TRUE(dialog.selection().methods.isEmpty()); // not tickable without data
    // Why, in a line of the dialog, not only in a tooltip.
    EXPECT_FALSE(dialog.calibrationNote()->isHidden());
    EXPECT_TRUE(dialog.calibrationNote()->text().contains(QStringLiteral("GPTQ")))
        << dialog.calibrationNote()->text().toStdString();
    EXPECT_TRUE(dialog.calibrationNote()->text().contains(QStringLiteral("Calibration data")));
    s.calib = QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt");
    s.calibWindows = 8;
    dialog.setSelection(s);
    const nlohmann::json g = dialog.grid();
    EXPECT_EQ(g.at("method"), nlohmann::json::array({"gptq"}));
    EXPECT_EQ(g.at("calib"), nlohmann::json::array({QFileInfo(s.calib).absoluteFilePath().toStdString()}));
    EXPECT_EQ(g.at("calib-windows"), nlohmann::json::array({8}));
    const auto points = core::expandGrid(g, m_registries);
    ASSERT_EQ(points.size(), 1u);
    EXPECT_EQ(points[0].calibWindows, 8);
}

TEST_F(SweepDialogTest, TransformsChainBeforeEachMethodWithTheirParameters) {
    gui::SweepDialog dialog(m_registries);
    gui::SweepSelection s;
    s.methods = {QStringLiteral("rtn")};
    s.formats = {QStringLiteral("int4")};
    s.granularities = {QStringLiteral("channel")};
    s.transformParams = {{"rotation_seed", 5}};
    dialog.setSelection(s);
    ASSERT_EQ(dialog.transformList()->count(), 1 + static_cast<int>(m_registries.transforms.all().size()));
    EXPECT_EQ(dialog.selection().transforms, QStringList{QString()}); // "none" ticked by default
    tick(dialog.transformList(), {QStringLiteral("rotate")});
    const nlohmann::json g = dialog.grid();
    EXPECT_EQ(g.at("method"), nlohmann::json::array({"rtn", "rotate+rtn"})) << g.dump();
    EXPECT_EQ(g.at("rotation-seed"), nlohmann::json::array({5})) << g.dump();
    EXPECT_EQ(dialog.pointCount(), 2);
    EXPECT_EQ(dialog.validCount(), 2);
    const auto points = core::expandGrid(g, m_registries);
    ASSERT_EQ(points.size(), 2u);
    ASSERT_TRUE(points[1].recipe);
    ASSERT_EQ(points[1].recipe->job.transforms.size(), 1u);
    EXPECT_EQ(points[1].recipe->job.transforms[0].name, "rotate");
    EXPECT_EQ(points[1].recipe->job.transforms[0].params.value("rotation_seed", 0), 5);
    EXPECT_TRUE(points[0].recipe && points[0].recipe->job.transforms.empty());
    // A calibrated transform (smoothquant) cannot be ticked without calibration data.
    s.transforms = {QStringLiteral("smoothquant")};
    dialog.setSelection(s);
    EXPECT_TRUE(dialog.selection().transforms.isEmpty());
    s.calib = QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt");
    dialog.setSelection(s);
    EXPECT_EQ(dialog.selection().transforms, QStringList{QStringLiteral("smoothquant")});
    EXPECT_EQ(dialog.grid().at("method"), nlohmann::json::array({"smoothquant+rtn"})) << dialog.grid().dump();
    EXPECT_TRUE(dialog.grid().contains("calib")) << dialog.grid().dump();
}

class SweepWindowTest : public test::WindowTest {
protected:
    void SetUp() override {
        WindowTest::SetUp();
        m_projectPath = freshProject(QStringLiteral("sweep-window.qsproj"));
    }

    QString m_projectPath;
};

// The dialog's ticks survive Cancel and a new window: they are remembered per project.
TEST_F(SweepWindowTest, TicksAreKeptAfterCancelPerProject) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    gui::SweepSelection ticks = m_window->experiments()->sweepDialogStart();
    EXPECT_EQ(ticks.methods, QStringList{QStringLiteral("rtn")}); // first time: the panel's choice
    ticks.methods = {QStringLiteral("rtn"), QStringLiteral("dgq")};
    ticks.formats = {QStringLiteral("int3"), QStringLiteral("int8")};
    ticks.groups = {64};
    ticks.asym = true;
    m_window->experiments()->rememberSweepTicks(ticks); // what closing the dialog does, Cancel included
    m_window->close();
    m_window = std::make_unique<gui::MainWindow>(m_registries, m_plugins);
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    ASSERT_EQ(m_window->viewContext()->projectPath(), QFileInfo(m_projectPath).absoluteFilePath());
    const gui::SweepSelection again = m_window->experiments()->sweepDialogStart();
    EXPECT_EQ(again.methods, ticks.methods);
    EXPECT_EQ(again.formats, ticks.formats);
    EXPECT_EQ(again.groups, ticks.groups);
    EXPECT_TRUE(again.asym);
    // Another project starts from the panel again.
    ASSERT_TRUE(m_window->experiments()->openProject(freshProject(QStringLiteral("other_ticks.qsproj")), true));
    EXPECT_EQ(m_window->experiments()->sweepDialogStart().methods, QStringList{QStringLiteral("rtn")});
}

TEST_F(SweepWindowTest, ATwoPointSweepStoresTwoRunsAndTheReference) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    EXPECT_FALSE(m_window->experiments()->runSweep({{"method", {"rtn"}}})); // no project, no data yet
    ASSERT_TRUE(m_window->experiments()->openProject(m_projectPath, true));
    m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 2);

    gui::SweepDialog dialog(m_registries);
    gui::SweepSelection s;
    s.methods = {QStringLiteral("rtn")};
    s.formats = {QStringLiteral("int4"), QStringLiteral("int8")};
    s.granularities = {QStringLiteral("channel")};
    dialog.setSelection(s);
    dialog.setProjectInfo(
        [&](const std::vector<core::SweepPoint>& p) { return m_window->experiments()->countExistingRuns(p); }, {});
    EXPECT_EQ(dialog.pointCount(), 2);
    EXPECT_EQ(dialog.existingCount(), 0);

    int runsSignals = 0;
    QObject::connect(m_window->viewContext(), &plugins::ViewContext::projectRunsChanged,
                     [&] { ++runsSignals; });
    ASSERT_TRUE(m_window->experiments()->runSweep(dialog.grid()));
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded) << log();
    ASSERT_TRUE(m_window->experiments()->lastSweep());
    const nlohmann::json summary = m_window->experiments()->lastSweep()->toJson();
    EXPECT_EQ(summary.at("done"), 2) << summary.dump();
    EXPECT_GE(runsSignals, 2);

    auto project = core::Project::open(m_projectPath.toStdString(), false);
    const auto runs = project->runs();
    ASSERT_EQ(runs.size(), 3u);
    EXPECT_EQ(runs[0].recipe, "{}");
    for (const auto& r : runs)
        EXPECT_EQ(r.status, "finished");

    // The dialog now sees both points in the project.
    dialog.setSelection(s);
    EXPECT_EQ(dialog.existingCount(), 2);
    EXPECT_TRUE(dialog.summaryLabel()->text().contains(QStringLiteral("2 already in the project")))
        << dialog.summaryLabel()->text().toStdString();
}

} // namespace
