// SPDX-License-Identifier: MIT
// The Hardware cost view as a user drives it on digits-cnn: Price refuses without calibration data and
// says why, prices the current spec as a job (bars per layer, a bar selects its layer), re-opens a stored
// pricing, and Price all runs puts every run of a sweep at (speedup, accuracy), int4 weights cheaper
// than int8 on Loom, and the report lists every pricing.
#include "cost_view.h"
#include "experiment_controller.h"
#include "report.h"
#include "pareto_view.h"
#include "window_test.h"

#include "common/param_form.h"

#include <QComboBox>
#include <QRegularExpression>
#include <qcustomplot.h>

namespace {

using namespace qs;

const QString kDigits = QStringLiteral(QS_FIXTURES_DIR "/digits-cnn");

class CostViewTest : public test::WindowTest {};

TEST_F(CostViewTest, PriceBarsAndAccuracyAgainstSpeedup) {
    const QString project = freshProject(QStringLiteral("cost.qsproj"));
    ASSERT_NO_FATAL_FAILURE(openAndWait(kDigits + QStringLiteral("/model.onnx")));
    ASSERT_TRUE(m_window->experiments()->openProject(project, true));
    ASSERT_TRUE(m_window->showView(QStringLiteral("cost")));
    auto* view = m_window->findChild<views::CostView*>();
    ASSERT_NE(view, nullptr);
    view->setDesign(QStringLiteral("loom"));
    ASSERT_EQ(view->design(), QStringLiteral("loom"));
    EXPECT_TRUE(view->form()->values().contains("serial_bits")); // the design's own schema
    EXPECT_FALSE(view->price());
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("calibration data"))) << view->noteText().toStdString();

    m_window->experiments()->setCalibrationData(kDigits + QStringLiteral("/calib_x.npy"));
    ASSERT_TRUE(view->price());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(view->outcome().has_value()) << view->noteText().toStdString();
    EXPECT_EQ(view->outcome()->output.rows.size(), 4u); // conv1, conv2, fc1, fc2
    EXPECT_EQ(view->bars()->plottable(0)->interface1D()->dataCount() +
                  view->bars()->plottable(1)->interface1D()->dataCount(),
              4);
    ASSERT_TRUE(view->selectBar(1));
    EXPECT_EQ(m_window->viewContext()->selectedLayer(), QStringLiteral("conv2.weight")); // the layer table's name
    ASSERT_TRUE(view->price()); // the same inputs: re-opened from the project
    ASSERT_TRUE(waitIdle()) << log();
    EXPECT_TRUE(view->noteText().contains(QStringLiteral("re-opened"))) << view->noteText().toStdString();

    m_window->experiments()->setEvaluationData(kDigits + QStringLiteral("/test_x.npy"));
    m_window->experiments()->setLabelsData(kDigits + QStringLiteral("/test_y.npy"));
    const nlohmann::json grid = {
        {"method", {"rtn"}}, {"format", {"int8", "int4"}}, {"granularity", {"channel"}}, {"asym", {false}}};
    ASSERT_TRUE(m_window->experiments()->runSweep(grid)) << log();
    ASSERT_TRUE(waitIdle(120000)) << log();
    ASSERT_TRUE(view->priceAllRuns());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_EQ(view->points().size(), 3u) << view->noteText().toStdString(); // fp32, int8, int4
    std::map<std::string, double> speedup;
    for (const auto& p : view->points()) {
        EXPECT_TRUE(p.metrics.accuracy.has_value());
        speedup[p.label.find("int4") != std::string::npos ? "int4" : p.label.find("int8") != std::string::npos ? "int8" : "fp32"] =
            p.speedup;
    }
    EXPECT_GT(speedup["int4"], speedup["int8"]);
    EXPECT_GT(speedup["int8"], speedup["fp32"]);
    // The Pareto view offers the design as an x axis: the priced quantized runs by relative cycles.
    ASSERT_TRUE(m_window->showView(QStringLiteral("pareto")));
    auto* pareto = m_window->findChild<views::ParetoView*>();
    ASSERT_NE(pareto, nullptr);
    pareto->reload();
    ASSERT_GE(pareto->findChild<QComboBox*>(QStringLiteral("paretoX"))->findData(QStringLiteral("cycles:loom")), 0);
    pareto->setAxes("cycles:loom", "accuracy", views::ParetoGroup::Format);
    std::map<std::string, double> cycles;
    for (const auto& series : pareto->data().series)
        for (const auto& p : series.points) cycles[series.name] = p.x;
    ASSERT_EQ(cycles.size(), 2u); // int4, int8 (fp32 is the reference line)
    EXPECT_NEAR(cycles["int4"], 1.0 / speedup["int4"], 1e-12);
    EXPECT_LT(cycles["int4"], cycles["int8"]);
    EXPECT_GE(pareto->findChild<QComboBox*>(QStringLiteral("paretoX"))->findData(QStringLiteral("energy:loom")), 0);
    // The pricings enter the project's report.
    const report::ReportContent content = report::buildReport(project.toStdString(), std::nullopt);
    EXPECT_TRUE(content.headings.contains(QStringLiteral("Hardware cost")));
    EXPECT_TRUE(content.images.count(QStringLiteral("cost-loom.png"))); // accuracy against Loom's cycles
    // One row per pricing: the current spec once (re-opened, not stored twice) and the three runs.
    EXPECT_EQ(content.html.count(QRegularExpression(QStringLiteral("<td[^>]*>loom</td>"))), 4);
    m_window->resize(1600, 1000);
    m_window->show();
    QTest::qWait(100);
    EXPECT_TRUE(m_window->grab().save(test::outputDir() + QStringLiteral("/cost-view.png")));
}

} // namespace
