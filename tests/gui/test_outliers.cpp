// SPDX-License-Identifier: MIT
// The Outliers view: its arithmetic in closed form, then the view over the fixture model.
#include "builtin_registries.h"
#include "quant/model_quantizer.h"
#include "gui_test_support.h"
#include "model/model.h"
#include "outlier_stats.h"
#include "outliers_view.h"

#include <QComboBox>
#include <QDir>
#include <QApplication>
#include <QLabel>
#include <QSignalSpy>
#include <quantscope/plugin/job_service.h>
#include <cmath>
#include <cstdio>
#include <gtest/gtest.h>
#include <qcustomplot.h>

namespace {

using namespace qs;

TEST(OutlierStats, PercentilesInterpolateBetweenOrderStatistics) {
    const std::vector<double> v{5, 1, 4, 2, 3};
    EXPECT_DOUBLE_EQ(views::percentile(v, 0), 1);
    EXPECT_DOUBLE_EQ(views::percentile(v, 50), 3);
    EXPECT_DOUBLE_EQ(views::percentile(v, 25), 2);
    EXPECT_DOUBLE_EQ(views::percentile(v, 10), 1.4); // 0.1 * 4 = 0.4 of the way from 1 to 2
    EXPECT_DOUBLE_EQ(views::percentile(v, 100), 5);
    EXPECT_DOUBLE_EQ(views::percentile({}, 50), 0);
}

TEST(OutlierStats, ChannelMagnitudesAndKurtosisOfASmallMatrix) {
    const float w[] = {1, -5, 0, 2, 0, -1}; // [[1, -5, 0], [2, 0, -1]]
    const auto s = views::weightChannelStats(w, 2, 3);
    EXPECT_EQ(s.outAbsMax, (std::vector<double>{5, 2}));
    EXPECT_EQ(s.inAbsMax, (std::vector<double>{2, 5, 1}));
    // mean -0.5; squared deviations sum 29.5, fourth powers 454.375.
    EXPECT_NEAR(s.kurtosis, (454.375 / 6) / ((29.5 / 6) * (29.5 / 6)), 1e-12);
    EXPECT_DOUBLE_EQ(s.outBands.p50, 3.5);
    EXPECT_DOUBLE_EQ(s.inBands.p100, 5);
    EXPECT_EQ(views::topChannels({1, 5, 5, 2}, 2), (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(views::topChannels({1, 5}, 9), (std::vector<std::int64_t>{1, 0}));
}

TEST(OutliersView, ShowsTheSelectedLayersChannelsAndActivations) {
    test::ensureApp();
    std::shared_ptr<const core::Model> model = core::openModel(test::fixtureModel().toStdString());
    plugins::ViewContext context{test::builtinRegistries()};
    views::OutliersView view(&context);
    context.setModel(model);
    context.setLayers(core::inspectModel(*model, {}));
    const QString layer = QStringLiteral("model.layers.0.mlp.down_proj.weight"); // [192, 512]
    context.setSelectedLayer(layer);
    EXPECT_EQ(view.channelStats().outAbsMax.size(), 192u);
    EXPECT_EQ(view.channelStats().inAbsMax.size(), 512u);
    EXPECT_EQ(view.topChannelCount(), 8);
    EXPECT_GT(view.layerPlot()->plottableCount(), 0);

    EXPECT_EQ(view.activationStatsFor(layer), nullptr);
    core::LinearInputStats act;
    act.site = "model.layers.0.mlp.down_proj";
    act.features = 512;
    act.absMax.assign(512, 1.0);
    view.setActivationStats({act});
    ASSERT_NE(view.activationStatsFor(layer), nullptr);
    EXPECT_EQ(view.activationStatsFor(layer)->features, 512);
    // A picture of the view for people to look at (not compared).
    view.resize(1000, 700);
    EXPECT_TRUE(view.grab().save(test::outputDir() + QStringLiteral("/outliers_view.png")));
}

TEST(OutliersView, CollectsActivationStatisticsFromCalibrationText) {
    test::ensureApp();
    // The calibration cache goes to the test's output, never to the user's ~/.cache.
    qputenv("XDG_CACHE_HOME", (test::outputDir() + QStringLiteral("/cache")).toLocal8Bit());
    std::shared_ptr<const core::Model> model = core::openModel(test::fixtureModel().toStdString());
    plugins::ViewContext context{test::builtinRegistries()};
    views::OutliersView view(&context);
    context.setModel(model);
    context.setLayers(core::inspectModel(*model, {}));
    QSignalSpy spy(&view, &views::OutliersView::activationStatsChanged);
    QSignalSpy started(context.jobs(), &plugins::JobService::started);
    ASSERT_TRUE(view.collectActivationStats(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt")));
    // A job of the shared service, so the Jobs dock shows it with progress and Cancel; one at a time.
    EXPECT_EQ(started.size(), 1);
    EXPECT_TRUE(context.jobs()->isRunning());
    EXPECT_FALSE(view.collectActivationStats(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt")));
    ASSERT_TRUE(spy.wait(120000));
    EXPECT_EQ(context.jobs()->state(), plugins::JobState::Succeeded);
    EXPECT_EQ(context.jobs()->what(), QStringLiteral("Collecting activation statistics"));
    EXPECT_TRUE(view.activationError().isEmpty()) << view.activationError().toStdString();
    EXPECT_FALSE(view.findChild<QLabel*>(QStringLiteral("outliersNote"))->text().contains(QStringLiteral("Collecting")))
        << "the progress line clears when the job is done";
    const auto* down = view.activationStatsFor(QStringLiteral("model.layers.1.mlp.down_proj.weight"));
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->features, 512);
    EXPECT_EQ(down->absMax.size(), 512u);
    EXPECT_EQ(down->samples, 8 * 128); // the view's 8 windows of 128 tokens

    // On input channels the channel plot draws each channel's p99 beside its max, never above it.
    context.setSelectedLayer(QStringLiteral("model.layers.1.mlp.down_proj.weight"));
    view.findChild<QComboBox*>(QStringLiteral("outliersAxis"))->setCurrentIndex(1);
    QCPGraph* p99 = nullptr;
    for (int i = 0; i < view.channelPlot()->graphCount(); ++i)
        if (view.channelPlot()->graph(i)->name().contains(QStringLiteral("p99")))
            p99 = view.channelPlot()->graph(i);
    ASSERT_NE(p99, nullptr);
    ASSERT_EQ(p99->data()->size(), 512);
    int below = 0;
    for (int c = 0; c < 512; ++c) {
        const double v = (p99->data()->constBegin() + c)->value;
        EXPECT_LE(v, down->absMax[static_cast<std::size_t>(c)] * (1 + 1e-12)) << c;
        below += v < down->absMax[static_cast<std::size_t>(c)];
    }
    EXPECT_GT(below, 256); // over 1024 tokens most channels' max is a rarer value than their p99
}

TEST(OutliersView, RotationAfterSideLowersKurtosis) {
    test::ensureApp();
    QDir(test::outputDir() + QStringLiteral("/cache"))
        .removeRecursively(); // computed, not read from a past run
    qputenv("XDG_CACHE_HOME", (test::outputDir() + QStringLiteral("/cache")).toLocal8Bit());
    std::shared_ptr<const core::Model> model = core::openModel(test::fixtureModel().toStdString());
    plugins::ViewContext context{test::builtinRegistries()};
    views::OutliersView view(&context);
    context.setModel(model);
    context.setLayers(core::inspectModel(*model, {}));
    const QString layer = QStringLiteral("model.layers.1.mlp.down_proj.weight");
    context.setSelectedLayer(layer);

    // SmoothQuant needs the calibration text: a message in the note line, no computation, no crash.
    QSignalSpy after(&view, &views::OutliersView::afterStatsChanged);
    view.setMethod(QStringLiteral("smoothquant"));
    EXPECT_EQ(view.method(), QStringLiteral("smoothquant"));
    EXPECT_FALSE(view.afterError().isEmpty());
    EXPECT_EQ(view.afterStats(), nullptr);
    view.setMethod(QStringLiteral("none"));

    QSignalSpy act(&view, &views::OutliersView::activationStatsChanged);
    view.collectActivationStats(QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt"));
    ASSERT_TRUE(act.wait(120000));
    ASSERT_TRUE(view.activationError().isEmpty()) << view.activationError().toStdString();
    // k_proj reads the q_proj input: its statistics are found through the site map.
    ASSERT_NE(view.activationStatsFor(QStringLiteral("model.layers.0.self_attn.k_proj.weight")), nullptr);

    after.clear();
    view.setMethod(QStringLiteral("rotate"));
    while (!view.afterStats() && view.afterError().isEmpty())
        ASSERT_TRUE(after.wait(120000));
    ASSERT_TRUE(view.afterError().isEmpty()) << view.afterError().toStdString();
    const auto& k = view.layerKurtosis();
    ASSERT_EQ(k.names.size(), 28u);
    int lowerWeights = 0, lowerActs = 0;
    for (std::size_t i = 0; i < k.names.size(); ++i) {
        ASSERT_TRUE(std::isfinite(k.weightsAfter[i])) << k.names[i].toStdString();
        ASSERT_TRUE(std::isfinite(k.actBefore[i]) && std::isfinite(k.actAfter[i]))
            << k.names[i].toStdString();
        lowerWeights += k.weightsAfter[i] < k.weightsBefore[i];
        lowerActs += k.actAfter[i] < k.actBefore[i];
    }
    std::printf("[ outliers ] rotate lowers the kurtosis of %d/28 weights and %d/28 layer inputs\n",
                lowerWeights, lowerActs);
    EXPECT_GT(lowerWeights, 0);
    EXPECT_GT(lowerActs, 0);
    // The plots carry the after series: weight bars in the upper row, activation bars in the lower one.
    int afterPlottables = 0;
    for (int i = 0; i < view.layerPlot()->plottableCount(); ++i)
        afterPlottables += view.layerPlot()->plottable(i)->name().contains(QStringLiteral("after rotate"));
    EXPECT_EQ(afterPlottables, 2);
    int afterChannels = 0;
    for (int i = 0; i < view.channelPlot()->plottableCount(); ++i)
        afterChannels += view.channelPlot()->plottable(i)->name().contains(QStringLiteral("after rotate"));
    EXPECT_EQ(afterChannels, 1); // output channels: the weights only
    // Input channels: the activations before and after join the weights.
    view.findChild<QComboBox*>(QStringLiteral("outliersAxis"))->setCurrentIndex(1);
    afterChannels = 0;
    for (int i = 0; i < view.channelPlot()->plottableCount(); ++i)
        afterChannels += view.channelPlot()->plottable(i)->name().contains(QStringLiteral("after rotate"));
    EXPECT_EQ(afterChannels, 2);
    EXPECT_EQ(view.topChannelCount(), 8);

    view.resize(1200, 860);
    view.show();
    QApplication::processEvents();
    // No legend covers plotted data: each sits in its own layout row.
    for (QCustomPlot* plot : {view.channelPlot(), view.layerPlot()}) {
        plot->replot();
        for (QCPLayoutElement* e : plot->plotLayout()->elements(true))
            if (auto* legend = qobject_cast<QCPLegend*>(e)) {
                for (QCPAxisRect* rect : plot->axisRects())
                    EXPECT_FALSE(legend->visible() && legend->outerRect().intersects(rect->rect()))
                        << plot->objectName().toStdString() << " legend " << legend->outerRect().y() << "+"
                        << legend->outerRect().height() << " rect " << rect->rect().y() << "+" << rect->rect().height()
                        << " plot " << plot->height();
            }
    }
    EXPECT_TRUE(view.grab().save(test::outputDir() + QStringLiteral("/outliers_rotate.png")));
    EXPECT_TRUE(view.layerPlot()->savePng(test::outputDir() + QStringLiteral("/outliers_rotate_layers.png"),
                                          900, 500));

    // SmoothQuant now has the calibration text: its after side replaces the rotation's.
    after.clear();
    view.setMethod(QStringLiteral("smoothquant"));
    while (view.afterStats() == nullptr && view.afterError().isEmpty())
        ASSERT_TRUE(after.wait(120000));
    ASSERT_TRUE(view.afterError().isEmpty()) << view.afterError().toStdString();
    EXPECT_EQ(view.afterStats()->applied.at(0).at("name"), "smoothquant");
    EXPECT_TRUE(view.grab().save(test::outputDir() + QStringLiteral("/outliers_smoothquant.png")));
}

} // namespace
