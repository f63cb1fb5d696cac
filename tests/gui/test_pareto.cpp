// SPDX-License-Identifier: MIT
// The Pareto view: front and series logic without widgets, then the view over a hand-made project.
#include "builtin_registries.h"
#include "gui_test_support.h"
#include "pareto_data.h"
#include "pareto_plot.h"
#include "pareto_view.h"
#include "test_report_project.h"

#include <QApplication>
#include <QCheckBox>
#include <cmath>
#include <gtest/gtest.h>
#include <qcustomplot.h>

namespace {

using namespace qs;
using views::paretoFrontIndices;

TEST(ParetoFront, KeepsExactlyTheNonDominatedPoints) {
    // (bits, ppl), both smaller is better.
    const std::vector<std::pair<double, double>> xy{
        {2, 20},   // 0 A: fewest bits -> on the front
        {3, 12},   // 1 B: front
        {3, 14},   // 2 C: same bits as B, worse -> dominated
        {4, 12},   // 3 D: more bits than B, same ppl -> dominated
        {4, 10},   // 4 E: front
        {8, 9.5},  // 5 F: front
        {5, 11},   // 6 G: dominated by E (fewer bits, lower ppl)
        {8, 9.5},  // 7 H: exact duplicate of F -> kept
        {9, 30},   // 8 I: dominated by everything cheaper
    };
    EXPECT_EQ(paretoFrontIndices(xy, false), (std::vector<std::size_t>{0, 1, 4, 5, 7}));
}

TEST(ParetoFront, HigherIsBetterFlipsTheYAxis) {
    // (bits, accuracy): more accuracy is better.
    const std::vector<std::pair<double, double>> xy{{2, 0.5}, {4, 0.9}, {4, 0.8}, {8, 0.85}, {8, 0.95}, {3, 0.4}};
    EXPECT_EQ(paretoFrontIndices(xy, true), (std::vector<std::size_t>{0, 1, 4}));
}

TEST(ParetoFront, NanPointsAreNeverOnTheFront) {
    const std::vector<std::pair<double, double>> xy{{1, std::nan("")}, {2, 5}, {std::nan(""), 1}};
    EXPECT_EQ(paretoFrontIndices(xy, false), (std::vector<std::size_t>{1}));
    EXPECT_TRUE(paretoFrontIndices({}, false).empty());
}

std::vector<core::RunRecord> handRecords() {
    const std::filesystem::path path = test::outputDir().toStdString() + "/pareto-data.qsproj";
    test::makeHandProject(path, QS_FIXTURES_DIR "/tinyllama-bpe512");
    return core::Project::open(path, false)->runs();
}

TEST(ParetoData, GroupsRunsAndDrawsTheReferenceAsALine) {
    const auto runs = handRecords();
    ASSERT_EQ(runs.size(), 7u);
    const auto byMethod = views::buildParetoData(runs, "bits_per_weight", "perplexity",
                                                 views::ParetoGroup::Method);
    ASSERT_EQ(byMethod.series.size(), 2u); // reference and failed run are not points
    EXPECT_EQ(byMethod.series[0].name, "gptq");
    EXPECT_EQ(byMethod.series[0].points.size(), 2u);
    EXPECT_EQ(byMethod.series[1].name, "rtn");
    EXPECT_EQ(byMethod.series[1].points.size(), 3u);
    ASSERT_TRUE(byMethod.referenceY);
    EXPECT_DOUBLE_EQ(*byMethod.referenceY, 20.0);
    EXPECT_EQ(byMethod.referenceRunId, 1);
    // Front by bits: gptq int3 (3.25, 26), gptq int4 (4.25, 20.8), rtn int8 (8.25, 20.1).
    std::vector<std::int64_t> front;
    for (const auto& p : byMethod.front) front.push_back(p.runId);
    EXPECT_EQ(front, (std::vector<std::int64_t>{6, 5, 2}));

    const auto byFormat = views::buildParetoData(runs, "model_bytes", "delta_perplexity",
                                                 views::ParetoGroup::Format);
    ASSERT_EQ(byFormat.series.size(), 3u); // int3, int4, int8
    EXPECT_EQ(byFormat.series[0].name, "int3");
    EXPECT_DOUBLE_EQ(*byFormat.referenceY, 0.0);
    for (const auto& p : byFormat.series[2].points) { // int8
        EXPECT_NEAR(p.y, 0.10, 1e-9);
        EXPECT_NEAR(p.x, 8.25 * 1771200 / 8.0 / 1e6, 1e-9);
    }
    // Top-1: higher is better, so the front changes direction.
    const auto top1 = views::buildParetoData(runs, "bits_per_weight", "top1_agreement",
                                             views::ParetoGroup::Method);
    EXPECT_EQ(top1.front.size(), 3u);
    EXPECT_EQ(top1.front.back().runId, 2);
}

// Hardware cost as x: only the priced runs are points (the others counted as skipped), and the front
// is taken on their relative cycles.
TEST(ParetoData, CostAxisPlotsThePricedRunsByRelativeCycles) {
    const auto runs = handRecords();
    views::RunCosts costs;
    costs[views::cyclesAxisKey("loom")] = {{2, 0.5}, {5, 0.3}, {6, 0.35}}; // rtn int8, gptq int4, gptq int3
    const auto d = views::buildParetoData(runs, "cycles:loom", "perplexity", views::ParetoGroup::Method, {}, costs);
    std::size_t points = 0;
    for (const auto& s : d.series) points += s.points.size();
    EXPECT_EQ(points, 3u);
    EXPECT_EQ(d.skipped, 2u); // the two quantized runs never priced
    std::vector<std::int64_t> front;
    for (const auto& p : d.front) front.push_back(p.runId);
    EXPECT_EQ(front, (std::vector<std::int64_t>{5, 2})); // gptq int3 (0.35, 26) is dominated by gptq int4 (0.3, 20.8)
    EXPECT_DOUBLE_EQ(d.front.front().x, 0.3);
    EXPECT_FALSE(views::higherIsBetter("cycles:loom"));
    EXPECT_NE(views::axisTitle("cycles:loom").find("loom"), std::string::npos);
    // Another design's axis, never priced: nothing to plot.
    EXPECT_TRUE(views::buildParetoData(runs, "cycles:stripes", "perplexity", views::ParetoGroup::Method, {}, costs).series.empty());
}

TEST(ParetoData, DefaultReportRunIsTheSmallestWithinTolerance) {
    const auto runs = handRecords();
    EXPECT_EQ(views::defaultReportRun(runs), 5);       // gptq int4: 20.8 <= 21.0
    EXPECT_EQ(views::defaultReportRun(runs, 0.01), 2); // within 1%: only rtn int8 (20.1)
    EXPECT_EQ(views::defaultReportRun({}), 0);
}

// Robust y range: an int2-like outlier does not flatten the rest; "fit all" shows it, "fit front" only the
// front and the reference.
TEST(ParetoRange, AnOutlierDoesNotFlattenTheRest) {
    views::ParetoData d;
    views::ParetoSeries s;
    s.name = "rtn";
    const std::vector<std::pair<double, double>> xy{{2, 3000}, {3, 14}, {4, 10}, {4, 11}, {5, 9.6}, {8, 9.1}, {16, 9.05}, {6, 25}};
    std::int64_t id = 1;
    for (const auto& [x, y] : xy) s.points.push_back({id++, x, y, "r", "rtn"});
    d.series.push_back(s);
    for (std::size_t i : views::paretoFrontIndices(xy, false)) d.front.push_back(s.points[i]);
    d.referenceY = 9.0;
    views::ParetoStyle style;
    // The int2 point is on the front (fewest bits) and 300x off: left out of the robust range, and counted.
    const views::ParetoYRange robust = views::paretoYRange(d, style);
    EXPECT_LT(robust.hi, 100.0);
    EXPECT_GE(robust.hi, 25.0); // a dominated but ordinary point stays
    EXPECT_LE(robust.lo, 9.0); // the reference is in view
    EXPECT_EQ(robust.outside, 1);
    d.front.erase(d.front.begin()); // the front below without it
    style.range = views::ParetoRange::All;
    const views::ParetoYRange all = views::paretoYRange(d, style);
    EXPECT_GE(all.hi, 3000.0);
    EXPECT_EQ(all.outside, 0);
    style.range = views::ParetoRange::Front;
    const views::ParetoYRange front = views::paretoYRange(d, style);
    EXPECT_GE(front.hi, 14.0);
    EXPECT_LT(front.hi, 25.0); // only the front (up to 14) and the reference
    EXPECT_EQ(front.outside, 2);
}

TEST(ParetoView, ClickingAPointSelectsItsRunEverywhere) {
    test::ensureApp();
    const std::filesystem::path path = test::outputDir().toStdString() + "/pareto-view.qsproj";
    test::makeHandProject(path, QS_FIXTURES_DIR "/tinyllama-bpe512");
    plugins::ViewContext context{test::builtinRegistries()};
    views::ParetoView view(&context);
    view.resize(800, 500);
    view.show();
    QApplication::processEvents();
    EXPECT_TRUE(view.data().series.empty());
    context.setProjectPath(QString::fromStdString(path.string()));
    EXPECT_EQ(view.data().front.size(), 3u);
    EXPECT_TRUE(view.statusText().startsWith(QStringLiteral("5 runs, 3 on the front")));
    view.plot()->replot();

    // The pixel of gptq int4 (run 5) in the plot's coordinates.
    const QPointF pixel(view.plot()->xAxis->coordToPixel(4.25), view.plot()->yAxis->coordToPixel(20.8));
    EXPECT_EQ(view.selectAt(pixel), 5);
    EXPECT_EQ(context.selectedRunId(), 5);
    EXPECT_EQ(view.selectAt(QPointF(2, 2)), 0); // far from any point
    EXPECT_EQ(context.selectedRunId(), 5);

    view.setAxes("bits_per_weight", "kld_mean", views::ParetoGroup::Format);
    EXPECT_EQ(view.data().series.size(), 3u);
    view.setLogAxes(true, true);
    EXPECT_EQ(view.plot()->xAxis->scaleType(), QCPAxis::stLogarithmic);
    // KLD can be zero: no log y, and the box says so instead of staying ticked.
    EXPECT_EQ(view.plot()->yAxis->scaleType(), QCPAxis::stLinear);
    auto* logY = view.findChildren<QCheckBox*>().at(1);
    EXPECT_EQ(logY->text(), QStringLiteral("log y"));
    EXPECT_FALSE(logY->isChecked());
    EXPECT_FALSE(logY->isEnabled());
    EXPECT_TRUE(logY->toolTip().contains(QStringLiteral("zero or negative")));

    // Selecting a run keeps the user's zoom.
    view.plot()->xAxis->setRange(3.9, 4.6);
    view.plot()->yAxis->setRange(0.001, 0.002);
    context.setSelectedRunId(3);
    EXPECT_DOUBLE_EQ(view.plot()->xAxis->range().lower, 3.9);
    EXPECT_DOUBLE_EQ(view.plot()->yAxis->range().upper, 0.002);
    // The legend sits under the plot, never over the data.
    view.plot()->replot();
    EXPECT_FALSE(view.plot()->legend->outerRect().intersects(view.plot()->axisRect()->rect()));

    const QString png = test::outputDir() + QStringLiteral("/pareto.png");
    QFile::remove(png);
    EXPECT_TRUE(view.plot()->savePng(png, 640, 400));
    EXPECT_GT(QFileInfo(png).size(), 1000);
}

// A plan being chosen elsewhere (the Mixed-precision dialog's slider) is drawn live: the predicted
// change of log-perplexity d as perplexity ppl_fp32 · e^d (or Δ perplexity ppl_fp32 · (e^d − 1)),
// redrawn as it changes, gone when cleared, and explained on axes that cannot show it.
TEST(ParetoView, DrawsThePlanBeingChosenLive) {
    test::ensureApp();
    EXPECT_DOUBLE_EQ(*views::predictedOnAxis(std::log(1.5), "perplexity", 20.0), 30.0);
    EXPECT_NEAR(*views::predictedOnAxis(std::log(1.5), "delta_perplexity", 20.0), 10.0, 1e-12);
    EXPECT_FALSE(views::predictedOnAxis(0.1, "kld_mean", 20.0));

    const std::filesystem::path path = test::outputDir().toStdString() + "/pareto-preview.qsproj";
    test::makeHandProject(path, QS_FIXTURES_DIR "/tinyllama-bpe512");
    plugins::ViewContext context{test::builtinRegistries()};
    context.setProjectPath(QString::fromStdString(path.string()));
    views::ParetoView view(&context);
    view.resize(800, 500);
    EXPECT_FALSE(view.data().preview);
    const auto graphNamed = [&](const QString& name) -> QCPGraph* {
        for (int i = 0; i < view.plot()->graphCount(); ++i)
            if (view.plot()->graph(i)->name() == name) return view.plot()->graph(i);
        return nullptr;
    };
    plugins::PlanPreview preview;
    preview.name = QStringLiteral("clado plan (predicted)");
    preview.frontier = {{3.5, 0.2}, {4.0, 0.05}, {5.0, 0.01}};
    preview.current = std::pair{4.0, 0.05};
    context.setPlanPreview(preview);
    ASSERT_TRUE(view.data().preview); // the hand project's fp32 reference: perplexity 20
    QCPGraph* curve = graphNamed(QStringLiteral("clado plan (predicted)"));
    QCPGraph* star = graphNamed(QStringLiteral("plan being chosen"));
    ASSERT_NE(curve, nullptr);
    ASSERT_NE(star, nullptr);
    ASSERT_EQ(curve->dataCount(), 3);
    EXPECT_DOUBLE_EQ(curve->data()->at(0)->value, 20.0 * std::exp(0.2));
    ASSERT_EQ(star->dataCount(), 1);
    EXPECT_DOUBLE_EQ(star->data()->at(0)->key, 4.0);
    EXPECT_DOUBLE_EQ(star->data()->at(0)->value, 20.0 * std::exp(0.05));
    // The slider moves: the star follows.
    preview.current = std::pair{5.0, 0.01};
    context.setPlanPreview(preview);
    star = graphNamed(QStringLiteral("plan being chosen"));
    ASSERT_NE(star, nullptr);
    EXPECT_DOUBLE_EQ(star->data()->at(0)->value, 20.0 * std::exp(0.01));
    // Δ perplexity: shifted by the reference; KL: not drawn, and the status line says why.
    view.setAxes("bits_per_weight", "delta_perplexity", views::ParetoGroup::Method);
    ASSERT_TRUE(view.data().preview);
    EXPECT_NEAR(view.data().preview->current->second, 20.0 * std::expm1(0.01), 1e-12);
    view.setAxes("bits_per_weight", "kld_mean", views::ParetoGroup::Method);
    EXPECT_FALSE(view.data().preview);
    EXPECT_TRUE(view.statusText().contains(QStringLiteral("perplexity"))) << view.statusText().toStdString();
    view.setAxes("bits_per_weight", "perplexity", views::ParetoGroup::Method);
    context.setPlanPreview(std::nullopt);
    EXPECT_FALSE(view.data().preview);
    EXPECT_EQ(graphNamed(QStringLiteral("plan being chosen")), nullptr);
}

} // namespace
