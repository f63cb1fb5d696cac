// SPDX-License-Identifier: MIT
// The Runs view: filtering, numeric sorting, the two-run layer comparison and selection sync.
#include "builtin_registries.h"
#include "gui_test_support.h"
#include "runs_model.h"
#include "runs_view.h"
#include "test_report_project.h"

#include <QItemSelectionModel>
#include <QTableView>
#include <gtest/gtest.h>

namespace {

using namespace qs;
using views::RunsTableModel;

class RunsModelTest : public ::testing::Test {
protected:
    void SetUp() override {
        test::ensureApp();
        m_path = test::outputDir().toStdString() + "/runs-model.qsproj";
        test::makeHandProject(m_path, QS_FIXTURES_DIR "/tinyllama-bpe512");
        m_model.setRuns(core::Project::open(m_path, false)->runs());
        m_proxy.setSourceModel(&m_model);
    }
    std::vector<qint64> idsInProxyOrder() const {
        std::vector<qint64> ids;
        for (int r = 0; r < m_proxy.rowCount(); ++r)
            ids.push_back(m_proxy.index(r, 0).data(RunsTableModel::RunIdRole).toLongLong());
        return ids;
    }

    std::filesystem::path m_path;
    RunsTableModel m_model;
    views::RunsProxy m_proxy;
};

TEST_F(RunsModelTest, ShowsEveryRunWithItsFigures) {
    ASSERT_EQ(m_model.rowCount(), 7);
    EXPECT_EQ(m_model.index(0, RunsTableModel::Recipe).data().toString(), QStringLiteral("fp32"));
    EXPECT_EQ(m_model.index(4, RunsTableModel::Method).data().toString(), QStringLiteral("gptq"));
    EXPECT_EQ(m_model.index(4, RunsTableModel::Format).data().toString(), QStringLiteral("int4"));
    EXPECT_EQ(m_model.index(4, RunsTableModel::metricColumn("delta_perplexity")).data().toString(), QStringLiteral("+0.800"));
    EXPECT_EQ(m_model.index(4, RunsTableModel::metricColumn("top1_agreement")).data().toString(), QStringLiteral("95.0%"));
    EXPECT_EQ(m_model.index(6, RunsTableModel::metricColumn("perplexity")).data().toString(), QStringLiteral("—"));
    EXPECT_EQ(m_model.index(6, RunsTableModel::Status).data(Qt::ToolTipRole).toString(),
              QStringLiteral("Cholesky factorisation failed"));
}

TEST_F(RunsModelTest, FiltersOnLabelAndStatusWithEveryWord) {
    m_proxy.setTextFilter(QStringLiteral("gptq"));
    EXPECT_EQ(idsInProxyOrder(), (std::vector<qint64>{5, 6, 7}));
    m_proxy.setTextFilter(QStringLiteral("GPTQ int4"));
    EXPECT_EQ(idsInProxyOrder(), (std::vector<qint64>{5}));
    m_proxy.setTextFilter(QStringLiteral("failed"));
    EXPECT_EQ(idsInProxyOrder(), (std::vector<qint64>{7}));
    m_proxy.setTextFilter(QStringLiteral("nothing-like-this"));
    EXPECT_TRUE(idsInProxyOrder().empty());
    m_proxy.setTextFilter(QString());
    EXPECT_EQ(m_proxy.rowCount(), 7);
}

TEST_F(RunsModelTest, SortsByValueWithMissingValuesFirst) {
    m_proxy.sort(RunsTableModel::metricColumn("perplexity"), Qt::AscendingOrder);
    // failed (no ppl) first, then 20.0, 20.1, 20.8, 23, 26, 40.
    EXPECT_EQ(idsInProxyOrder(), (std::vector<qint64>{7, 1, 2, 5, 3, 6, 4}));
    m_proxy.sort(RunsTableModel::metricColumn("bits_per_weight"), Qt::DescendingOrder);
    EXPECT_EQ(idsInProxyOrder().front(), 1); // fp32: 16 bits (text "16.000" < "3.250")
    m_proxy.sort(RunsTableModel::Recipe, Qt::AscendingOrder);
    EXPECT_EQ(idsInProxyOrder().front(), 1); // "fp32" < "gptq ..." < "rtn ..."
}

// A speedup column per priced cost model, between the metrics and the times; unpriced runs show "—"
// and sort first.
TEST_F(RunsModelTest, SpeedupColumnsPerPricedCostModel) {
    const int before = m_model.columnCount();
    EXPECT_EQ(m_model.speedupColumn("loom"), -1);
    m_model.setRuns(core::Project::open(m_path, false)->runs(),
                    {{"loom", {{2, 1.25}, {5, 2.5}}}, {"stripes", {{2, 1.5}}}});
    EXPECT_EQ(m_model.columnCount(), before + 2);
    const int loom = m_model.speedupColumn("loom");
    ASSERT_GE(loom, RunsTableModel::FirstMetric);
    EXPECT_EQ(m_model.speedupColumn("stripes"), loom + 1);
    EXPECT_EQ(m_model.seconds(), loom + 2);
    EXPECT_EQ(m_model.headerData(loom, Qt::Horizontal).toString(), QStringLiteral("loom ×"));
    EXPECT_EQ(m_model.index(m_model.rowOf(5), loom).data().toString(), QStringLiteral("2.500×"));
    EXPECT_EQ(m_model.index(m_model.rowOf(3), loom).data().toString(), QStringLiteral("—"));
    m_proxy.sort(loom, Qt::DescendingOrder);
    EXPECT_EQ(idsInProxyOrder().front(), 5);
}

TEST_F(RunsModelTest, ComparesTwoRunsLayerByLayer) {
    views::LayerCompareModel compare;
    auto project = core::Project::open(m_path, false);
    compare.setRuns(QStringLiteral("A"), project->layers(3), QStringLiteral("B"), project->layers(2));
    ASSERT_EQ(compare.rowCount(), 3);
    using C = views::LayerCompareModel;
    // SQNR = 6 dB per bit in the hand-made rows: int4 (4.25) 25.5 dB, int8 (8.25) 49.5 dB.
    EXPECT_NEAR(compare.index(0, C::SqnrA).data(C::SortRole).toDouble(), 25.5, 1e-9);
    EXPECT_NEAR(compare.index(0, C::SqnrDelta).data(C::SortRole).toDouble(), 24.0, 1e-9);
    EXPECT_EQ(compare.index(0, C::BitsDelta).data().toString(), QStringLiteral("+4.000"));
    EXPECT_EQ(compare.headerData(C::MseA, Qt::Horizontal).toString(), QStringLiteral("MSE A"));
}

TEST_F(RunsModelTest, ViewSelectsRunsAndComparesTwo) {
    plugins::ViewContext context{test::builtinRegistries()};
    views::RunsView view(&context);
    context.setProjectPath(QString::fromStdString(m_path.string()));
    ASSERT_EQ(view.model()->rowCount(), 7);
    // The context selects -> the table follows.
    context.setSelectedRunId(5);
    const QModelIndexList rows = view.table()->selectionModel()->selectedRows();
    ASSERT_EQ(rows.size(), 1);
    EXPECT_EQ(rows[0].data(RunsTableModel::RunIdRole).toLongLong(), 5);
    // A row selected in the table -> the context follows.
    const QModelIndex row2 = view.proxy()->index(1, 0);
    view.table()->selectionModel()->select(row2, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    EXPECT_EQ(context.selectedRunId(), 2);
    // Two rows: the comparison fills.
    view.table()->selectionModel()->select(view.proxy()->index(2, 0),
                                           QItemSelectionModel::Select | QItemSelectionModel::Rows);
    EXPECT_EQ(view.comparison()->rowCount(), 3);
    view.resize(1000, 600);
    EXPECT_TRUE(view.grab().save(test::outputDir() + QStringLiteral("/runs_view.png")));
}

} // namespace
