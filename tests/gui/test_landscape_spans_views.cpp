// SPDX-License-Identifier: MIT
// The Landscape and Attention spans views as a user drives them from the Analyze menu on the fixture:
// Measure refuses without evaluation data and says why, then runs as a job and stores the analysis;
// the landscape's slice ends are the fp32 and the current recipe's quantized losses, its bars select a
// layer; the spans heatmap is layers × heads; a re-opened project shows the stored analyses.
#include "experiment_controller.h"
#include "parameters_panel.h"
#include "landscape_view.h"
#include "misalignment_view.h"
#include "predict_view.h"
#include "report.h"
#include "spans_view.h"
#include "sweep_dialog.h"
#include "window_test.h"

#include "common/analysis_panel.h"
#include "common/param_form.h"

#include <QMenuBar>
#include <QPushButton>
#include <QTableWidget>
#include <qcustomplot.h>

namespace {

using namespace qs;

class LandscapeSpansViewTest : public test::WindowTest {};

QAction* analyzeAction(QMainWindow* window, const QString& id) {
    auto* menu = window->menuBar()->findChild<QMenu*>(QStringLiteral("analyzeMenu"));
    return menu ? menu->findChild<QAction*>(QStringLiteral("analyze_") + id) : nullptr;
}

TEST_F(LandscapeSpansViewTest, MeasureShowSelectAndReopen) {
    const QString project = freshProject(QStringLiteral("landscape.qsproj"));
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    ASSERT_TRUE(m_window->experiments()->openProject(project, true));
    QAction* showLandscape = analyzeAction(m_window.get(), QStringLiteral("landscape"));
    ASSERT_NE(showLandscape, nullptr);
    showLandscape->trigger();
    auto* landscape = m_window->findChild<views::LandscapeView*>();
    ASSERT_NE(landscape, nullptr);
    EXPECT_FALSE(landscape->panel()->measure());
    EXPECT_TRUE(landscape->panel()->status().contains(QStringLiteral("evaluation data")));

    m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
    landscape->panel()->setWindows(1);
    landscape->panel()->form()->setValue(QStringLiteral("t"), "-0.5,0,0.5,1");
    ASSERT_TRUE(landscape->panel()->measure());
    ASSERT_TRUE(waitIdle()) << log();
    const auto& out = landscape->panel()->outcome();
    ASSERT_TRUE(out.has_value()) << landscape->noteText().toStdString();
    EXPECT_GT(out->id, 0);
    const nlohmann::json& dir = out->output.summary["directions"][0];
    EXPECT_EQ(dir["source"].get<std::string>().rfind("recipe: ", 0), 0u) << dir["source"];
    ASSERT_TRUE(dir.contains("quantized_point")); // t = 1: the panel's recipe, quantized
    EXPECT_EQ(dir["quantized_point"]["loss"], dir["slice"]["1"]);
    // Slices: the direction's curve and the quantized point.
    ASSERT_GE(landscape->slices()->graphCount(), 2);
    EXPECT_EQ(landscape->slices()->graph(0)->dataCount(), 4);
    ASSERT_TRUE(landscape->selectLayer(2));
    const core::WeightInfo* chosen = m_window->viewContext()->model()->find(
        m_window->viewContext()->selectedLayer().toStdString());
    ASSERT_NE(chosen, nullptr);
    EXPECT_EQ(chosen->layerIndex, 2);

    QAction* showSpans = analyzeAction(m_window.get(), QStringLiteral("spans"));
    ASSERT_NE(showSpans, nullptr);
    showSpans->trigger();
    auto* spans = m_window->findChild<views::SpansView*>();
    ASSERT_NE(spans, nullptr);
    spans->panel()->setWindows(2);
    spans->panel()->form()->setValue(QStringLiteral("mass"), 0.9);
    ASSERT_TRUE(spans->panel()->measure());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(spans->panel()->outcome().has_value()) << spans->noteText().toStdString();
    auto* map = spans->heatmap()->plottableCount() ? qobject_cast<QCPColorMap*>(spans->heatmap()->plottable(0)) : nullptr;
    ASSERT_NE(map, nullptr);
    EXPECT_EQ(map->data()->keySize(), 4); // layers
    EXPECT_TRUE(spans->noteText().contains(QStringLiteral("attention work saved"))) << spans->noteText().toStdString();
    m_window->resize(1600, 1000);
    m_window->show();
    QTest::qWait(100);
    EXPECT_TRUE(m_window->grab().save(test::outputDir() + QStringLiteral("/spans-view.png")));
    ASSERT_TRUE(m_window->showView(QStringLiteral("landscape")));
    QTest::qWait(50);
    EXPECT_TRUE(m_window->grab().save(test::outputDir() + QStringLiteral("/landscape-view.png")));

    // Both analyses enter the project's report.
    const report::ReportContent content = report::buildReport(project.toStdString(), std::nullopt);
    EXPECT_TRUE(content.headings.contains(QStringLiteral("Why it is as good as it is")));
    EXPECT_TRUE(content.html.contains(QStringLiteral("<h3>Loss landscape</h3>")));
    EXPECT_TRUE(content.html.contains(QStringLiteral("<h3>Attention spans</h3>")));
    ASSERT_TRUE(content.images.count(QStringLiteral("landscape.png"))); // the slices as a figure too
    EXPECT_TRUE(content.images.count(QStringLiteral("spans.png")));
    EXPECT_FALSE(content.images.at(QStringLiteral("landscape.png")).isNull());

    // A project opened again shows its newest stored analyses.
    const qint64 landscapeId = out->id, spansId = spans->panel()->outcome()->id;
    ASSERT_TRUE(m_window->experiments()->openProject(project, false));
    ASSERT_TRUE(landscape->panel()->outcome().has_value());
    EXPECT_EQ(landscape->panel()->outcome()->id, landscapeId);
    EXPECT_EQ(spans->panel()->outcome()->id, spansId);
}

TEST_F(LandscapeSpansViewTest, PredictionLearnsFromTheProjectsSweep) {
    const QString project = freshProject(QStringLiteral("predict.qsproj"));
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    analyzeAction(m_window.get(), QStringLiteral("predict"))->trigger();
    auto* view = m_window->findChild<views::PredictView*>();
    ASSERT_NE(view, nullptr);
    m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
    EXPECT_FALSE(view->panel()->measure()); // no project: refused, and said why
    EXPECT_TRUE(view->panel()->status().contains(QStringLiteral("open a project"))) << view->panel()->status().toStdString();

    ASSERT_TRUE(m_window->experiments()->openProject(project, true));
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 2);
    const nlohmann::json grid = {{"method", {"rtn"}},
                                 {"format", {"int2", "int3", "int4", "int6", "int8"}},
                                 {"granularity", {"channel", "group"}},
                                 {"group", {32}},
                                 {"asym", {false, true}}};
    ASSERT_TRUE(m_window->experiments()->runSweep(grid)) << log();
    ASSERT_TRUE(waitIdle(120000)) << log();
    view->panel()->setWindows(1);
    view->panel()->form()->setValue(QStringLiteral("trace_samples"), 0);
    ASSERT_TRUE(view->panel()->measure());
    ASSERT_TRUE(waitIdle()) << log();
    const auto& out = view->panel()->outcome();
    ASSERT_TRUE(out.has_value()) << view->noteText().toStdString();
    const int runs = out->output.summary["training_runs"].get<int>();
    EXPECT_EQ(runs, 20);
    ASSERT_EQ(view->scatter()->graphCount(), 1);
    EXPECT_EQ(view->scatter()->graph(0)->dataCount(), runs);
    ASSERT_EQ(view->importance()->plottableCount(), 1);
    EXPECT_GT(view->importance()->plottable(0)->interface1D()->dataCount(), 3);
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("Leave-one-out MAE"))) << view->noteText().toStdString();
    const report::ReportContent content = report::buildReport(project.toStdString(), std::nullopt);
    EXPECT_TRUE(content.html.contains(QStringLiteral("<h3>Predicted quality</h3>")));
    EXPECT_TRUE(content.images.count(QStringLiteral("prediction.png")));

    // The Sweep dialog predicts a new grid's recipes from these runs and runs them in the chosen order.
    gui::SweepDialog dialog(m_window->viewContext()->registries(), m_window.get());
    gui::SweepSelection selection;
    selection.methods = {QStringLiteral("rtn")};
    selection.formats = {QStringLiteral("int3"), QStringLiteral("int5"), QStringLiteral("int7")};
    selection.granularities = {QStringLiteral("group")};
    selection.groups = {64};
    selection.sym = false;
    selection.asym = true;
    dialog.setSelection(selection);
    gui::SweepPredictions* predictions = dialog.predictions();
    predictions->setPredictor(m_window->experiments()->sweepPredictor());
    ASSERT_TRUE(predictions->predict()) << predictions->noteText().toStdString();
    EXPECT_FALSE(dialog.runButton()->isEnabled()); // Run waits for the prediction
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(predictions->predictions().size(), 3u) << predictions->noteText().toStdString();
    EXPECT_TRUE(dialog.runButton()->isEnabled());
    EXPECT_EQ(predictions->order(), core::SweepOrder::Promising); // chosen once predictions are there
    const auto firstRow = [&] { return predictions->table()->item(0, 0)->text().toStdString(); };
    ASSERT_EQ(predictions->table()->rowCount(), 3);
    EXPECT_EQ(firstRow(), predictions->predictions()[0]["label"].get<std::string>()); // rank 1 first
    nlohmann::json mostUncertain = predictions->predictions()[0];
    for (const auto& p : predictions->predictions())
        if (p["uncertainty"].get<double>() > mostUncertain["uncertainty"].get<double>()) mostUncertain = p;
    predictions->setOrder(core::SweepOrder::Uncertain);
    EXPECT_EQ(firstRow(), mostUncertain["label"].get<std::string>());
    std::vector<std::string> shown;
    for (int r = 0; r < predictions->table()->rowCount(); ++r) shown.push_back(predictions->table()->item(r, 0)->text().toStdString());
    ASSERT_TRUE(m_window->experiments()->runSweep(dialog.grid(), predictions->order(), predictions->predictions()));
    ASSERT_TRUE(waitIdle(120000)) << log();
    ASSERT_TRUE(m_window->experiments()->lastSweep().has_value());
    std::vector<std::string> ran;
    for (const auto& o : m_window->experiments()->lastSweep()->outcomes) ran.push_back(o.label);
    EXPECT_EQ(ran, shown); // the sweep ran in the table's order
    dialog.show();
    QTest::qWait(50);
    EXPECT_TRUE(dialog.grab().save(test::outputDir() + QStringLiteral("/sweep-predictions.png")));
    // A changed grid drops the predictions of the old one.
    selection.formats = {QStringLiteral("int3")};
    dialog.setSelection(selection);
    EXPECT_TRUE(predictions->predictions().empty());
    EXPECT_EQ(predictions->order(), core::SweepOrder::Grid);
}

TEST_F(LandscapeSpansViewTest, MisalignmentScattersEachFormatsCandidates) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    analyzeAction(m_window.get(), QStringLiteral("misalignment"))->trigger();
    auto* view = m_window->findChild<views::MisalignmentView*>();
    ASSERT_NE(view, nullptr);
    m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
    view->panel()->setWindows(1);
    m_window->viewContext()->setSelectedLayer(QString());
    EXPECT_FALSE(view->panel()->measure()); // no weight selected: refused, and said why
    EXPECT_TRUE(view->panel()->status().contains(QStringLiteral("Select a weight"))) << view->panel()->status().toStdString();
    m_window->viewContext()->setSelectedLayer(QStringLiteral("model.layers.1.mlp.down_proj.weight"));
    EXPECT_FALSE(view->panel()->measure()); // the local objective needs calibration data
    EXPECT_TRUE(view->panel()->status().contains(QStringLiteral("calibration data"))) << view->panel()->status().toStdString();

    m_window->experiments()->setCalibrationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt"));
    view->panel()->form()->setValue(QStringLiteral("formats"), "int3:group:32:asym,int4:group:32:asym");
    view->panel()->form()->setValue(QStringLiteral("mixes"), 2);
    ASSERT_TRUE(view->panel()->measure());
    ASSERT_TRUE(waitIdle()) << log();
    const auto& out = view->panel()->outcome();
    ASSERT_TRUE(out.has_value()) << view->noteText().toStdString();
    EXPECT_EQ(out->output.summary["layer"], "model.layers.1.mlp.down_proj.weight");
    // One scatter per format, a point per candidate (RTN clippings, GPTQ variants, AWQ, the mixes).
    ASSERT_EQ(view->scatter()->graphCount(), 2);
    const std::size_t perFormat = out->output.summary["candidates"].size() / 2;
    EXPECT_EQ(std::size_t(view->scatter()->graph(0)->dataCount()), perFormat);
    EXPECT_EQ(view->scatter()->graph(1)->name(), QStringLiteral("int4:group:32:asym"));
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("Spearman"))) << view->noteText().toStdString();
    view->setGlobal(QStringLiteral("kld"));
    EXPECT_EQ(std::size_t(view->scatter()->graph(1)->dataCount()), perFormat);
    // Stored in a project, it enters the report with its scatter.
    const QString project = freshProject(QStringLiteral("misalignment.qsproj"));
    ASSERT_TRUE(m_window->experiments()->openProject(project, true));
    ASSERT_TRUE(view->panel()->measure());
    ASSERT_TRUE(waitIdle()) << log();
    const report::ReportContent content = report::buildReport(project.toStdString(), std::nullopt);
    EXPECT_TRUE(content.html.contains(QStringLiteral("<h3>Local against global objective</h3>")));
    EXPECT_TRUE(content.images.count(QStringLiteral("misalignment.png")));
    m_window->resize(1600, 1000);
    m_window->show();
    QTest::qWait(100);
    EXPECT_TRUE(m_window->grab().save(test::outputDir() + QStringLiteral("/misalignment-view.png")));
}

} // namespace
