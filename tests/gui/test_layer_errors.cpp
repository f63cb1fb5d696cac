// SPDX-License-Identifier: MIT
// The Layer errors view: the current result's per-layer SQNR and bits as bars linked to the layer table.
#include "experiment_controller.h"
#include "layer_errors_view.h"
#include "layer_table_model.h"
#include "layer_table_view.h"
#include "common/param_form.h"
#include "parameters_panel.h"
#include "window_test.h"

#include <QTableView>
#include <cmath>
#include <qcustomplot.h>

namespace {

using namespace qs;

class LayerErrorsTest : public test::WindowTest {};

TEST_F(LayerErrorsTest, BarsAreTheResultsLayersAndAClickSelectsTheLayerEverywhere) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    auto* view = qobject_cast<views::LayerErrorsView*>(m_window->view(QStringLiteral("layer_errors")));
    ASSERT_NE(view, nullptr);
    EXPECT_TRUE(view->titleText().contains(QStringLiteral("No result yet")));
    // A mixed recipe: block 0 kept, the rest int4 group 32.
    m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int4");
    m_window->parameters()->specForm()->setValue(QStringLiteral("group"), 32);
    m_window->viewContext()->setLayerRules(nlohmann::json::array({{{"match", "model.layers.0.*"}, {"keep", true}}}));
    ASSERT_TRUE(m_window->experiments()->runQuantization());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(m_window->viewContext()->isQuantResultComplete());

    const views::LayerErrorSeries& s = view->series();
    ASSERT_EQ(s.names.size(), 28u); // every quantizable weight, in the model's order
    std::size_t k = 0;
    for (const auto& l : m_window->viewContext()->layers())
        if (l.info.quantizable) {
            const QString name = QString::fromStdString(l.info.name);
            ASSERT_EQ(s.names[k], name);
            const core::LayerQuantResult* r = m_window->viewContext()->layerResult(name);
            ASSERT_NE(r, nullptr) << l.info.name;
            EXPECT_EQ(s.kept[k], name.startsWith(QStringLiteral("model.layers.0."))) << l.info.name;
            if (s.kept[k])
                EXPECT_TRUE(std::isnan(s.sqnrDb[k])) << "a kept layer is exact: no bar";
            else
                EXPECT_DOUBLE_EQ(s.sqnrDb[k], r->error.sqnrDb) << l.info.name;
            EXPECT_DOUBLE_EQ(s.bitsPerWeight[k], r->bitsPerWeight) << l.info.name;
            ++k;
        }
    EXPECT_TRUE(view->titleText().contains(QStringLiteral("lowest SQNR"))) << view->titleText().toStdString();

    // A bar click selects the layer in every view: the layer table's current row follows.
    ASSERT_TRUE(view->selectBar(9));
    EXPECT_EQ(m_window->viewContext()->selectedLayer(), s.names[9]);
    auto* table = qobject_cast<views::LayerTableView*>(m_window->view(QStringLiteral("layer_table")));
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(table->tableView()->currentIndex().siblingAtColumn(views::LayerTableModel::Name).data().toString(),
              s.names[9]);
    EXPECT_FALSE(view->selectBar(28));

    // Rendered at the two screen sizes, the legend stays out of the bars.
    m_window->show();
    ASSERT_TRUE(m_window->showView(QStringLiteral("layer_errors")));
    for (const QSize size : {QSize(1600, 1000), QSize(1280, 800)}) {
        m_window->resize(size);
        QTest::qWait(100);
        view->plot()->replot();
        const QRect legend = view->plot()->legend->outerRect();
        const QRect data = view->plot()->axisRect()->rect();
        EXPECT_FALSE(legend.intersects(data)) << size.width();
        EXPECT_TRUE(view->grab().save(test::outputDir() + QStringLiteral("/layer_errors_%1.png").arg(size.width())));
    }
}

} // namespace
