// SPDX-License-Identifier: MIT
// The layer table's model and proxy without widgets: numeric sorting, natural names, CSV.
#include "builtin_registries.h"
#include "gui_test_support.h"
#include "layer_table_model.h"

#include <QStringList>
#include <gtest/gtest.h>

namespace {

using namespace qs;
using views::LayerTableModel;

core::LayerReport layer(const std::string& name, core::Shape shape, double min, double kurtosis) {
    core::LayerReport r;
    r.info.name = name;
    r.info.shape = std::move(shape);
    r.info.dtype = core::DType::BF16;
    r.info.quantizable = true;
    r.stats.count = core::numel(r.info.shape);
    r.stats.min = min;
    r.stats.max = -min;
    r.stats.std = 0.02;
    r.stats.kurtosis = kurtosis;
    r.stats.outlierShare = 0.0001;
    r.stats.channelAbsmaxMin = 0.01;
    r.stats.channelAbsmaxMax = -min;
    return r;
}

class LayerTableModelTest : public ::testing::Test {
protected:
    void SetUp() override {
        test::ensureApp();
        std::vector<core::LayerReport> layers;
        layers.push_back(layer("model.layers.10.mlp", {10}, -0.5, 12.5));
        layers.push_back(layer("model.layers.2.mlp", {100000}, -0.05, 3.1));
        layers.push_back(layer("model.layers.1.mlp", {9}, -2.0, 100.0));
        m_context.setLayers(std::move(layers));
        m_proxy.setSourceModel(&m_model);
    }
    QStringList namesInProxyOrder() const {
        QStringList names;
        for (int r = 0; r < m_proxy.rowCount(); ++r)
            names << m_proxy.index(r, LayerTableModel::Name).data().toString();
        return names;
    }

    plugins::ViewContext m_context{test::builtinRegistries()};
    LayerTableModel m_model{&m_context};
    views::LayerTableProxy m_proxy;
};

TEST_F(LayerTableModelTest, SortsParametersByValueNotText) {
    // As text "10" < "100,000" < "9"; by value 9 < 10 < 100000.
    m_proxy.sort(LayerTableModel::Parameters, Qt::AscendingOrder);
    EXPECT_EQ(namesInProxyOrder(),
              (QStringList{"model.layers.1.mlp", "model.layers.10.mlp", "model.layers.2.mlp"}));
    m_proxy.sort(LayerTableModel::Parameters, Qt::DescendingOrder);
    EXPECT_EQ(namesInProxyOrder().first(), QStringLiteral("model.layers.2.mlp"));
    EXPECT_EQ(m_proxy.index(0, LayerTableModel::Parameters).data().toString(), QStringLiteral("100,000"));
}

TEST_F(LayerTableModelTest, SortsNegativeAndLargeValuesNumerically) {
    m_proxy.sort(LayerTableModel::Min, Qt::AscendingOrder); // -2 < -0.5 < -0.05
    EXPECT_EQ(namesInProxyOrder(),
              (QStringList{"model.layers.1.mlp", "model.layers.10.mlp", "model.layers.2.mlp"}));
    m_proxy.sort(LayerTableModel::Kurtosis,
                 Qt::AscendingOrder); // 3.1 < 12.5 < 100 (text: "100.00" < "12.50" < "3.10")
    EXPECT_EQ(namesInProxyOrder(),
              (QStringList{"model.layers.2.mlp", "model.layers.10.mlp", "model.layers.1.mlp"}));
}

TEST_F(LayerTableModelTest, SortsNamesNaturally) {
    m_proxy.sort(LayerTableModel::Name, Qt::AscendingOrder);
    EXPECT_EQ(namesInProxyOrder(),
              (QStringList{"model.layers.1.mlp", "model.layers.2.mlp", "model.layers.10.mlp"}));
}

TEST_F(LayerTableModelTest, QuantColumnsFillAsLayersArrive) {
    EXPECT_TRUE(m_model.index(0, LayerTableModel::Mse).data().toString().isEmpty());
    core::QuantJob job;
    m_context.beginQuantResult(job);
    core::LayerQuantResult q;
    q.name = "model.layers.2.mlp";
    q.bitsPerWeight = 4.625;
    q.error.mse = 1.25e-5;
    q.error.sqnrDb = 21.37;
    m_context.addLayerResult(q);
    EXPECT_EQ(m_model.index(1, LayerTableModel::Mse).data().toString(), QStringLiteral("1.25e-05"));
    EXPECT_EQ(m_model.index(1, LayerTableModel::Sqnr).data().toString(), QStringLiteral("21.4"));
    EXPECT_EQ(m_model.index(1, LayerTableModel::BitsPerWeight).data().toString(), QStringLiteral("4.625"));
    EXPECT_TRUE(m_model.index(0, LayerTableModel::Mse).data().toString().isEmpty()); // not done yet
    // Missing values sort first, then by value.
    m_proxy.sort(LayerTableModel::Sqnr, Qt::AscendingOrder);
    EXPECT_EQ(namesInProxyOrder().last(), QStringLiteral("model.layers.2.mlp"));
}

TEST_F(LayerTableModelTest, FiltersByWildcardOnTheName) {
    m_proxy.setNameFilter(QStringLiteral("layers.1*"));
    EXPECT_EQ(m_proxy.rowCount(), 2); // layers.10 and layers.1
    m_proxy.setNameFilter(QStringLiteral("LAYERS.2"));
    EXPECT_EQ(m_proxy.rowCount(), 1);
    m_proxy.setNameFilter(QString());
    EXPECT_EQ(m_proxy.rowCount(), 3);
}

TEST_F(LayerTableModelTest, CsvHasExactValuesAndQuotesShapes) {
    const QString csv = m_model.toCsv({2, 0});
    const QStringList lines = csv.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    ASSERT_EQ(lines.size(), 3);
    EXPECT_TRUE(lines[0].startsWith(QStringLiteral("name,shape,dtype,parameters,min,max,std,kurtosis")));
    EXPECT_FALSE(lines[0].contains(QStringLiteral("mse"))); // no run yet
    EXPECT_TRUE(lines[1].startsWith(QStringLiteral("model.layers.1.mlp,[9],BF16,9,-2,2,0.02,100,")));
    EXPECT_TRUE(lines[2].startsWith(QStringLiteral("model.layers.10.mlp,[10],BF16,10,-0.5,")));

    core::LayerReport wide = layer("w", {192, 512}, -1, 3);
    m_context.setLayers({wide});
    EXPECT_TRUE(m_model.toCsv({0}).contains(QStringLiteral("w,\"[192, 512]\",BF16,98304,")));
}

TEST_F(LayerTableModelTest, DisplayPrecisionIsReadable) {
    EXPECT_EQ(LayerTableModel::formatValue(LayerTableModel::Std, 0.0201234), QStringLiteral("0.02012"));
    EXPECT_EQ(LayerTableModel::formatValue(LayerTableModel::Kurtosis, 3.14159), QStringLiteral("3.14"));
    EXPECT_EQ(LayerTableModel::formatValue(LayerTableModel::Outliers, 0.0), QStringLiteral("0"));
    EXPECT_EQ(LayerTableModel::formatValue(LayerTableModel::Sqnr, std::numeric_limits<double>::infinity()),
              QStringLiteral("∞"));
    EXPECT_EQ(m_model.index(1, LayerTableModel::Shape).data().toString(), QStringLiteral("100000"));
}

} // namespace
