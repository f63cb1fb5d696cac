// SPDX-License-Identifier: MIT
// The Formats view offscreen: the comparison table (one row per FormatTrial, numeric sort, a click
// chooses a format), the number line's ticks, the shared spec, a screenshot and plot exports.
#include "builtin_registries.h"
#include "analysis/format_comparison.h"
#include "common/plot_export.h"
#include "quant/model_quantizer.h"
#include "format_trial_model.h"
#include "formats_view.h"
#include "gui_test_support.h"
#include "common/number_line.h"

#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QImage>
#include <QSignalSpy>
#include <QTableView>
#include <QTest>
#include <algorithm>
#include <gtest/gtest.h>
#include <qcustomplot.h>

namespace {

using namespace qs;
using views::FormatTrialModel;

const QString kLayer = QStringLiteral("model.layers.1.mlp.down_proj.weight");

core::QuantSpec specOf(const char* format, core::Granularity g = core::Granularity::Tensor, bool sym = true,
                       int group = 32) {
    core::QuantSpec s;
    s.format = core::findFormat(format)->id;
    s.granularity = g;
    s.symmetric = sym;
    s.groupSize = group;
    return s;
}

class FormatsViewTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_model = core::openModel(test::fixtureModel().toStdString());
        s_layers = core::inspectModel(*s_model, {});
    }
    static void TearDownTestSuite() { s_model.reset(); }

    void SetUp() override {
        test::ensureApp();
        m_context.setModel(s_model);
        m_context.setLayers(s_layers);
        m_context.setCurrentSpec(specOf("int4", core::Granularity::Group, false, 32)); // the GUI's default
        m_view = std::make_unique<views::FormatsView>(&m_context);
        m_view->resize(1400, 900);
        m_view->show();
        m_context.setSelectedLayer(kLayer);
    }
    void TearDown() override { m_view.reset(); }

    bool waitForTable() {
        return QTest::qWaitFor([&] { return !m_view->isComparing() && m_view->trialModel()->rowCount() > 0; },
                               60000);
    }
    bool waitForDetail() {
        return QTest::qWaitFor([&] { return m_view->isDetailCurrent(); }, 30000);
    }
    std::vector<float> weights(const QString& name) const {
        return s_model->weightAsOutIn(*s_model->find(name.toStdString()));
    }
    // Proxy row whose label is `label`, -1 when none.
    int proxyRow(const QString& label) const {
        auto* proxy = m_view->tableView()->model();
        for (int r = 0; r < proxy->rowCount(); ++r)
            if (proxy->index(r, FormatTrialModel::Format).data().toString() == label) return r;
        return -1;
    }

    static inline std::shared_ptr<const core::Model> s_model;
    static inline std::vector<core::LayerReport> s_layers;
    plugins::ViewContext m_context{test::builtinRegistries()};
    std::unique_ptr<views::FormatsView> m_view;
};

TEST_F(FormatsViewTest, FillsTheTableWithOneRowPerFormatTrial) {
    ASSERT_TRUE(waitForTable());
    EXPECT_EQ(m_view->shownLayer(), kLayer);
    const auto x = weights(kLayer);
    const core::WeightInfo& info = *s_model->find(kLayer.toStdString());
    const auto trials = core::compareFormats(x.data(), info.matrixRows(), info.matrixCols(), 32, {});
    ASSERT_EQ(m_view->trialModel()->rowCount(), static_cast<int>(trials.size()));
    // Same rows as core's, in core's order, with its exact numbers behind the rounded text.
    for (std::size_t i = 0; i < trials.size(); ++i) {
        const QModelIndex label = m_view->trialModel()->index(static_cast<int>(i), FormatTrialModel::Format);
        EXPECT_EQ(label.data().toString(), QString::fromStdString(trials[i].spec.label()));
        EXPECT_DOUBLE_EQ(
            label.siblingAtColumn(FormatTrialModel::Mse).data(FormatTrialModel::SortRole).toDouble(),
            trials[i].error.mse);
        EXPECT_DOUBLE_EQ(
            label.siblingAtColumn(FormatTrialModel::Bits).data(FormatTrialModel::SortRole).toDouble(),
            trials[i].bitsPerElement);
    }
    // The chosen spec (int4 asym group 32) is the selected row.
    const QModelIndex current = m_view->tableView()->currentIndex();
    ASSERT_TRUE(current.isValid());
    EXPECT_EQ(current.siblingAtColumn(FormatTrialModel::Format).data().toString(),
              QStringLiteral("int4 asym group 32"));
    const QString csv = m_view->trialModel()->toCsv({0});
    EXPECT_TRUE(csv.startsWith(QStringLiteral("format,bits_per_element,mse,sqnr_db\n"))) << csv.toStdString();
}

TEST_F(FormatsViewTest, SortsBySqnrNumerically) {
    ASSERT_TRUE(waitForTable());
    QTableView* table = m_view->tableView();
    auto* proxy = table->model();
    for (const Qt::SortOrder order : {Qt::AscendingOrder, Qt::DescendingOrder}) {
        table->sortByColumn(FormatTrialModel::Sqnr, order);
        std::vector<double> values;
        QStringList texts;
        for (int r = 0; r < proxy->rowCount(); ++r) {
            const QModelIndex i = proxy->index(r, FormatTrialModel::Sqnr);
            values.push_back(i.data(FormatTrialModel::SortRole).toDouble());
            texts << i.data().toString();
        }
        ASSERT_EQ(values.size(), static_cast<std::size_t>(m_view->trialModel()->rowCount()));
        if (order == Qt::AscendingOrder)
            EXPECT_TRUE(std::is_sorted(values.begin(), values.end()));
        else
            EXPECT_TRUE(std::is_sorted(values.rbegin(), values.rend()));
        // A text sort would put "10.xx" before "9.xx": the SQNRs here span both, so this order is numeric.
        QStringList textSorted = texts;
        textSorted.sort();
        if (order == Qt::DescendingOrder) std::reverse(textSorted.begin(), textSorted.end());
        EXPECT_NE(texts, textSorted);
    }
    EXPECT_GT(m_view->trialModel()->rowCount(), 40);
}

TEST_F(FormatsViewTest, ClickingARowChoosesItsFormat) {
    ASSERT_TRUE(waitForTable());
    ASSERT_TRUE(waitForDetail());
    EXPECT_TRUE(m_view->explanationText().contains(QStringLiteral("4-bit integer, 16 levels")));
    QTableView* table = m_view->tableView();
    table->sortByColumn(FormatTrialModel::Sqnr, Qt::DescendingOrder);
    const int row = proxyRow(QStringLiteral("nf4 sym channel"));
    ASSERT_GE(row, 0);
    const QModelIndex index = table->model()->index(row, FormatTrialModel::Format);
    table->scrollTo(index);
    QSignalSpy changed(&m_context, &plugins::ViewContext::currentSpecChanged);
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, table->visualRect(index).center());
    EXPECT_EQ(changed.count(), 1);
    EXPECT_EQ(m_context.currentSpec().format, core::FormatId::Nf4);
    EXPECT_EQ(m_context.currentSpec().granularity, core::Granularity::Channel);
    EXPECT_EQ(m_context.currentSpec().groupSize, 32); // a channel row keeps the group size
    const QString text = m_view->explanationText();
    EXPECT_TRUE(text.contains(QStringLiteral("NormalFloat-4 code book"))) << text.toStdString();
    EXPECT_FALSE(text.contains(QStringLiteral("4-bit integer, 16 levels"))) << text.toStdString();
    ASSERT_TRUE(waitForDetail());
    EXPECT_TRUE(m_view->errorTitle().contains(QStringLiteral("nf4 sym channel")))
        << m_view->errorTitle().toStdString();
    EXPECT_TRUE(m_view->errorTitle().contains(QStringLiteral("SQNR")));
    EXPECT_TRUE(m_view->numberLineTitle().startsWith(QStringLiteral("nf4 ")));
    EXPECT_EQ(m_view->tickCount(), 16); // the NF4 code book
    // The error shown is the table row's.
    const auto& trial =
        m_view->trialModel()
            ->trials()[static_cast<std::size_t>(m_view->trialModel()->rowOf(m_context.currentSpec()))];
    EXPECT_DOUBLE_EQ(m_view->shownError().mse, trial.error.mse);
    EXPECT_TRUE(m_view->explanationText().contains(QStringLiteral("MSE")));
}

TEST_F(FormatsViewTest, NumberLineHasOneTickPerGridValue) {
    for (const char* name : {"int4", "fp4_e2m1", "int8", "mxfp4", "nvfp4", "log2"}) {
        const core::FormatTraits& f = *core::findFormat(name);
        m_context.setCurrentSpec(views::withFormat(m_context.currentSpec(), f));
        ASSERT_TRUE(waitForDetail()) << name;
        EXPECT_EQ(m_view->tickCount(), static_cast<int>(core::elementGrid(f).size())) << name;
    }
    EXPECT_EQ(core::elementGrid(*core::findFormat("int4")).size(), 16u);
    EXPECT_EQ(core::elementGrid(*core::findFormat("fp4_e2m1")).size(), 15u);

    // fp4 per tensor: the largest tick is the layer's absmax (scale = absmax / 6).
    m_context.setCurrentSpec(specOf("fp4_e2m1"));
    ASSERT_TRUE(waitForDetail());
    ASSERT_EQ(m_view->tickCount(), 15);
    const auto x = weights(kLayer);
    double amax = 0;
    for (float v : x)
        amax = std::max(amax, static_cast<double>(std::fabs(v)));
    auto ticks = m_view->numberLinePlot()->graph(1)->data();
    EXPECT_NEAR((ticks->constEnd() - 1)->key, amax, 1e-6 * amax);
    // On the log axis only the 7 non-zero magnitudes remain.
    m_view->setLogAxis(true);
    EXPECT_EQ(m_view->tickCount(), 7);
    EXPECT_EQ(m_view->numberLinePlot()->xAxis->scaleType(), QCPAxis::stLogarithmic);
    m_view->setLogAxis(false);
    EXPECT_EQ(m_view->tickCount(), 15);

    // A cast is far too dense for ticks: a shaded band instead.
    m_context.setCurrentSpec(specOf("bf16"));
    ASSERT_TRUE(waitForDetail());
    EXPECT_EQ(m_view->tickCount(), 0);
}

TEST_F(FormatsViewTest, ANewLayerReplacesTheTableAndStaleResultsAreIgnored) {
    ASSERT_TRUE(waitForTable());
    // Switch quickly: only the last layer's comparison may land in the table.
    const QString last = QStringLiteral("model.layers.3.self_attn.q_proj.weight");
    for (const char* name : {"model.layers.0.mlp.up_proj.weight", "model.layers.2.mlp.gate_proj.weight",
                             "model.layers.3.self_attn.q_proj.weight"})
        m_context.setSelectedLayer(QString::fromLatin1(name));
    ASSERT_TRUE(waitForTable());
    QTest::qWait(100); // any stale finished signal would arrive now
    EXPECT_EQ(m_view->shownLayer(), last);
    const auto x = weights(last);
    const core::WeightInfo& info = *s_model->find(last.toStdString());
    const auto trials = core::compareFormats(x.data(), info.matrixRows(), info.matrixCols(), 32, {});
    ASSERT_EQ(m_view->trialModel()->trials().size(), trials.size());
    for (std::size_t i = 0; i < trials.size(); ++i)
        EXPECT_DOUBLE_EQ(m_view->trialModel()->trials()[i].error.mse, trials[i].error.mse) << i;
    // Clearing the selection clears the view.
    m_context.setSelectedLayer({});
    EXPECT_EQ(m_view->trialModel()->rowCount(), 0);
    EXPECT_EQ(m_view->tickCount(), 0);
}

TEST_F(FormatsViewTest, ScreenshotAndPlotExports) {
    ASSERT_TRUE(waitForTable());
    ASSERT_TRUE(waitForDetail());
    m_view->tableView()->sortByColumn(FormatTrialModel::Sqnr, Qt::DescendingOrder);
    m_view->tableView()->scrollTo(m_view->tableView()->currentIndex(), QAbstractItemView::PositionAtCenter);
    QTest::qWait(50);
    const QString png = test::outputDir() + QStringLiteral("/formats_view.png");
    QFile::remove(png);
    const QImage shot = m_view->grab().toImage();
    ASSERT_FALSE(shot.isNull());
    ASSERT_TRUE(shot.save(png));
    EXPECT_GT(QFileInfo(png).size(), 10000);

    // A float grid on the log axis: evenly spaced binades (for looking at, not compared).
    m_context.setCurrentSpec(specOf("fp8_e4m3", core::Granularity::Channel));
    ASSERT_TRUE(waitForDetail());
    m_view->setLogAxis(true);
    ASSERT_TRUE(
        m_view->grab().toImage().save(test::outputDir() + QStringLiteral("/formats_view_fp8_log.png")));
    m_view->setLogAxis(false);

    for (QCustomPlot* plot : {m_view->numberLinePlot(), m_view->errorPlot()})
        for (const char* ext : {"png", "pdf", "svg"}) {
            const QString path = test::outputDir() + QLatin1Char('/') + plot->objectName() +
                                 QLatin1Char('.') + QLatin1String(ext);
            QFile::remove(path);
            QString error;
            EXPECT_TRUE(views::exportPlot(plot, path, &error)) << error.toStdString();
            EXPECT_GT(QFileInfo(path).size(), 500) << path.toStdString();
        }
}

TEST(FormatsViewEmpty, ShowsWhatToDoWithoutAModel) {
    test::ensureApp();
    plugins::ViewContext context{test::builtinRegistries()};
    views::FormatsView view(&context);
    view.show();
    EXPECT_EQ(view.numberLineTitle(), QStringLiteral("No model open"));
    EXPECT_EQ(view.trialModel()->rowCount(), 0);
    EXPECT_FALSE(view.explanationText().isEmpty()); // the default format is still explained
}

TEST(NumberLine, ScalesTheElementGridWithThePerTensorFit) {
    const std::vector<float> x{-0.7f, -0.1f, 0.0f, 0.2f, 1.4f};
    const auto sym = views::numberLine(specOf("int4"), x.data(), x.size());
    ASSERT_EQ(sym.values.size(), 16u);
    EXPECT_FLOAT_EQ(sym.params.scale, 1.4f / 7.0f);
    EXPECT_NEAR(sym.values.back(), 1.4, 1e-6);
    EXPECT_NEAR(sym.values.front(), -8 * 1.4 / 7.0, 1e-6);
    // Asymmetric: s (code - z) for codes 0..15 covers [min, max].
    const auto asym = views::numberLine(specOf("int4", core::Granularity::Tensor, false), x.data(), x.size());
    ASSERT_EQ(asym.values.size(), 16u);
    EXPECT_LE(asym.values.front(), -0.7 + 0.5 * asym.params.scale);
    EXPECT_GE(asym.values.back(), 1.4 - 0.5 * asym.params.scale);
    EXPECT_TRUE(std::find(asym.values.begin(), asym.values.end(), 0.0) != asym.values.end()); // zero is exact
    const auto fp4 = views::numberLine(specOf("fp4_e2m1"), x.data(), x.size());
    ASSERT_EQ(fp4.values.size(), 15u);
    EXPECT_NEAR(fp4.values.back(), 1.4, 1e-6);
    EXPECT_EQ(views::magnitudes(fp4.values).size(), 7u);
    const auto bf16 = views::numberLine(specOf("bf16"), x.data(), x.size());
    EXPECT_TRUE(bf16.tooDense);
    EXPECT_GT(bf16.valuesInRange, 1024);
}

TEST(NumberLine, WithFormatKeepsTheSpecValid) {
    core::QuantSpec asym = specOf("int4", core::Granularity::Group, false, 64);
    const core::QuantSpec nf4 = views::withFormat(asym, *core::findFormat("nf4"));
    EXPECT_TRUE(nf4.symmetric);
    EXPECT_EQ(nf4.granularity, core::Granularity::Group);
    EXPECT_EQ(nf4.groupSize, 64);
    const core::QuantSpec mx = views::withFormat(asym, *core::findFormat("mxfp4"));
    EXPECT_EQ(mx.granularity, core::Granularity::Block);
    EXPECT_EQ(mx.groupSize, 32);
    const core::QuantSpec back = views::withFormat(mx, *core::findFormat("int8"));
    EXPECT_EQ(back.granularity, core::Granularity::Group);
}

TEST(ViewContextSpec, EmitsOnlyOnChange) {
    test::ensureApp();
    plugins::ViewContext context{test::builtinRegistries()};
    QSignalSpy spy(&context, &plugins::ViewContext::currentSpecChanged);
    context.setCurrentSpec(context.currentSpec());
    EXPECT_EQ(spy.count(), 0);
    core::QuantSpec s = specOf("nf4", core::Granularity::Channel);
    context.setCurrentSpec(s);
    EXPECT_EQ(spy.count(), 1);
    EXPECT_EQ(context.currentSpec().format, core::FormatId::Nf4);
    context.setCurrentSpec(s);
    EXPECT_EQ(spy.count(), 1);
    s.scaleRule = core::ScaleRule::Mse;
    context.setCurrentSpec(s);
    EXPECT_EQ(spy.count(), 2);
}

} // namespace
