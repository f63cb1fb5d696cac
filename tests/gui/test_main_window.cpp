// SPDX-License-Identifier: MIT
// The main window end to end, offscreen: open the fixture, quantize, screenshot, cancel.
#include "builtin_views.h"
#include "common/plot_export.h"
#include "experiment/builtins.h"
#include "format_trial_model.h"
#include "formats_view.h"
#include "gui_test_support.h"
#include "histogram_view.h"
#include "experiment_controller.h"
#include "jobs_dock.h"
#include "parameters_panel.h"
#include <quantscope/plugin/job_service.h>
#include "layer_table_model.h"
#include "layer_table_view.h"
#include "main_window.h"
#include "common/param_form.h"

#include <QComboBox>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QImage>
#include <QLabel>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QRegularExpression>
#include <QSettings>
#include <QTabWidget>
#include <QGuiApplication>
#include <QHeaderView>
#include <QScreen>
#include <QTableView>
#include <QTest>
#include <QUrl>
#include <chrono>
#include <gtest/gtest.h>
#include <thread>

namespace {

using namespace qs;

// A deliberately slow method for the cancel test: 50 ms per layer, checking cancel every 5 ms.
class SlowQuantizer final : public core::Quantizer {
public:
    std::string_view name() const override { return "slow"; }
    std::string_view summary() const override { return "test-only: copies the weights, 50 ms per layer"; }
    const core::ParamSchema& params() const override {
        static const core::ParamSchema none;
        return none;
    }
    bool needsCalibration() const override { return false; }
    void quantize(const core::WeightMatrix& w, const core::QuantSpec&, const nlohmann::json&, float* out,
                  const core::JobContext& job) const override {
        for (int i = 0; i < 10; ++i) {
            job.checkCancel();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        std::copy(w.data, w.data + w.rows * w.cols, out);
    }
};

class MainWindowTest : public ::testing::Test {
protected:
    void SetUp() override {
        test::ensureApp();
        QSettings().clear(); // every test starts from the default layout
        core::registerBuiltins(m_registries);
        m_registries.quantizers.add(std::make_unique<SlowQuantizer>());
        gui::registerBuiltinViews(m_plugins);
        gui::loadExternalViews(m_plugins, QStringLiteral(QS_BIN_DIR)); // <bin>/../lib/quantscope/plugins
        m_window = std::make_unique<gui::MainWindow>(m_registries, m_plugins);
        m_window->resize(1400, 900);
    }
    void TearDown() override {
        m_window->close();
        m_window.reset();
    }

    views::LayerTableView* table() const {
        return qobject_cast<views::LayerTableView*>(m_window->view(QStringLiteral("layer_table")));
    }
    bool waitIdle(int ms) {
        return QTest::qWaitFor([&] { return !m_window->jobs()->isRunning(); }, ms);
    }
    void openFixture() {
        m_window->openModel(test::fixtureModel());
        ASSERT_TRUE(QTest::qWaitFor(
            [&] { return table()->tableModel()->rowCount() == 39 && !m_window->jobs()->isRunning(); },
            60000))
            << m_window->jobsDock()->logView()->toPlainText().toStdString();
        EXPECT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded);
    }
    int rowsWithValue(int column) const {
        auto* model = table()->tableModel();
        int n = 0;
        for (int r = 0; r < model->rowCount(); ++r) {
            const QString text = model->index(r, column).data().toString();
            if (!text.isEmpty() && text != QStringLiteral("—")) ++n;
        }
        return n;
    }

    core::Registries m_registries;
    plugins::PluginManager m_plugins;
    std::unique_ptr<gui::MainWindow> m_window;
};

TEST_F(MainWindowTest, OpensTheFixtureOffTheGuiThread) {
    openFixture();
    EXPECT_EQ(m_window->viewContext()->layers().size(), 39u);
    EXPECT_TRUE(m_window->windowTitle().contains(QStringLiteral("tinyllama-bpe512")));
    EXPECT_EQ(m_window->recentModels().value(0), QFileInfo(test::fixtureModel()).absoluteFilePath());
    // The first quantizable layer (file order) is selected so the histogram has something to show.
    EXPECT_EQ(m_window->viewContext()->selectedLayer(),
              QStringLiteral("model.layers.0.mlp.down_proj.weight"));
}

TEST_F(MainWindowTest, ABadModelIsAnErrorInTheLogNotACrash) {
    m_window->openModel(QStringLiteral(QS_FIXTURES_DIR "/no-such-model"));
    ASSERT_TRUE(waitIdle(30000));
    EXPECT_EQ(m_window->jobs()->state(), plugins::JobState::Failed);
    EXPECT_TRUE(m_window->jobsDock()->logView()->toPlainText().contains(QStringLiteral("no-such-model")))
        << m_window->jobsDock()->logView()->toPlainText().toStdString();
    EXPECT_EQ(m_window->viewContext()->model(), nullptr);
}

TEST_F(MainWindowTest, RtnInt4AsymG32FillsTheErrorColumns) {
    openFixture();
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
    m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int4");
    m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "group");
    m_window->parameters()->specForm()->setValue(QStringLiteral("group"), 32);
    m_window->parameters()->specForm()->setValue(QStringLiteral("sym"), false);
    ASSERT_TRUE(m_window->experiments()->runQuantization());
    ASSERT_TRUE(waitIdle(120000));
    ASSERT_EQ(m_window->jobs()->state(), plugins::JobState::Succeeded)
        << m_window->jobsDock()->logView()->toPlainText().toStdString();

    ASSERT_TRUE(m_window->viewContext()->isQuantResultComplete());
    EXPECT_EQ(m_window->viewContext()->quantResult()->layers.size(), 28u);
    EXPECT_EQ(rowsWithValue(views::LayerTableModel::Mse), 28);
    EXPECT_EQ(rowsWithValue(views::LayerTableModel::Sqnr), 28);
    EXPECT_EQ(rowsWithValue(views::LayerTableModel::BitsPerWeight), 28);
    EXPECT_FALSE(table()->tableView()->isColumnHidden(views::LayerTableModel::Mse));

    const QString bits = m_window->bitsLabel()->text();
    const auto match = QRegularExpression(QStringLiteral("([0-9.]+) whole model")).match(bits);
    ASSERT_TRUE(match.hasMatch()) << bits.toStdString();
    EXPECT_GT(match.captured(1).toDouble(), 4.0) << bits.toStdString();
    EXPECT_NEAR(match.captured(1).toDouble(), m_window->viewContext()->quantResult()->modelBitsPerWeight,
                1e-3);
}

TEST_F(MainWindowTest, ScreenshotAndPlotExports) {
    openFixture();
    ASSERT_TRUE(m_window->experiments()->runQuantization());
    ASSERT_TRUE(waitIdle(120000));
    m_window->viewContext()->setSelectedLayer(QStringLiteral("model.layers.1.mlp.down_proj.weight"));
    auto* histogram = qobject_cast<views::HistogramView*>(m_window->view(QStringLiteral("histogram")));
    ASSERT_NE(histogram, nullptr);
    m_window->show();
    ASSERT_TRUE(QTest::qWaitFor(
        [&] { return histogram->shownLayer() == QStringLiteral("model.layers.1.mlp.down_proj.weight"); },
        30000));
    QTest::qWait(200); // let the docks settle into their default sizes
    EXPECT_FALSE(histogram->histogram().counts.empty());
    EXPECT_TRUE(histogram->titleText().contains(QStringLiteral("down_proj")));
    // The run's grid over the histogram: int4 asym has 16 levels one scale apart, scale = range / 15, the
    // lowest within half a scale of the tensor's minimum (the zero point is rounded).
    const std::vector<double>& grid = histogram->gridValues();
    ASSERT_EQ(grid.size(), 16u) << histogram->gridCaption().toStdString();
    const double lo = histogram->histogram().lo, hi = histogram->histogram().hi, scale = (hi - lo) / 15;
    for (std::size_t i = 1; i < grid.size(); ++i) EXPECT_NEAR(grid[i] - grid[i - 1], scale, scale * 1e-3);
    EXPECT_LE(std::abs(grid.front() - lo), scale / 2 + 1e-9);
    EXPECT_TRUE(histogram->gridCaption().contains(QStringLiteral("whole tensor")));

    const QString png = test::outputDir() + QStringLiteral("/main_window.png");
    QFile::remove(png);
    const QImage shot = m_window->grab().toImage();
    ASSERT_FALSE(shot.isNull());
    ASSERT_TRUE(shot.save(png));
    EXPECT_GT(QFileInfo(png).size(), 10000);

    // The error columns sit next to the names, in sight without a horizontal scroll at 1600 pixels.
    QTableView* tableView = table()->tableView();
    m_window->resize(1600, 1000);
    QTest::qWait(100);
    QHeaderView* header = tableView->horizontalHeader();
    for (int c : {int(views::LayerTableModel::Assignment), int(views::LayerTableModel::BitsPerWeight),
                  int(views::LayerTableModel::Mse), int(views::LayerTableModel::Sqnr)})
        EXPECT_LE(header->visualIndex(c), 4) << c;
    EXPECT_LE(header->sectionViewportPosition(views::LayerTableModel::Sqnr) +
                  header->sectionSize(views::LayerTableModel::Sqnr),
              tableView->viewport()->width())
        << "SQNR is past the right edge of the layer table (" << table()->width() << " px wide)";
    tableView->scrollTo(tableView->model()->index(0, views::LayerTableModel::Sqnr));
    ASSERT_TRUE(
        table()->grab().toImage().save(test::outputDir() + QStringLiteral("/layer_table_results.png")));

    // The external example plugin got a tab of its own.
    auto* tabs = m_window->findChild<QTabWidget*>(QStringLiteral("viewTabs"));
    ASSERT_NE(tabs, nullptr);
    QWidget* summary = m_window->view(QStringLiteral("layer_summary"));
    ASSERT_NE(summary, nullptr);
    ASSERT_TRUE(m_window->showView(QStringLiteral("layer_summary")));
    EXPECT_TRUE(summary->isVisible());
    const QString summaryPng = test::outputDir() + QStringLiteral("/main_window_layer_summary.png");
    ASSERT_TRUE(m_window->grab().toImage().save(summaryPng));
    ASSERT_TRUE(m_window->showView(QStringLiteral("histogram")));

    for (const char* ext : {"png", "pdf", "svg"}) {
        const QString path = test::outputDir() + QStringLiteral("/histogram.") + QLatin1String(ext);
        QFile::remove(path);
        QString error;
        EXPECT_TRUE(views::exportPlot(histogram->plot(), path, &error)) << error.toStdString();
        EXPECT_GT(QFileInfo(path).size(), 500) << ext;
    }
}

TEST_F(MainWindowTest, CancelEndsTheJobWithinOneSecond) {
    openFixture();
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("slow")));
    const QString logBefore = m_window->jobsDock()->logView()->toPlainText();
    ASSERT_TRUE(m_window->experiments()->runQuantization());
    plugins::JobService* jobs = m_window->jobs();
    ASSERT_TRUE(QTest::qWaitFor([&] { return jobs->done() >= 2 || !jobs->isRunning(); }, 30000));
    ASSERT_TRUE(jobs->isRunning()) << "the slow job ended before it could be cancelled";

    QElapsedTimer clock;
    clock.start();
    m_window->cancelJob();
    (void)QTest::qWaitFor([&] { return !jobs->isRunning(); }, 1000);
    const qint64 ms = clock.elapsed();
    ASSERT_FALSE(jobs->isRunning()) << "still running " << ms << " ms after cancel";
    EXPECT_LE(ms, 1000);
    EXPECT_EQ(jobs->state(), plugins::JobState::Cancelled);
    EXPECT_TRUE(m_window->jobsDock()->statusLabel()->text().contains(QStringLiteral("cancelled")))
        << m_window->jobsDock()->statusLabel()->text().toStdString();
    const QString newLog = m_window->jobsDock()->logView()->toPlainText().mid(logBefore.size());
    EXPECT_FALSE(newLog.contains(QStringLiteral("error"))) << newLog.toStdString();
    EXPECT_FALSE(m_window->viewContext()->quantResult().has_value());
    EXPECT_EQ(table()->tableModel()->rowCount(), 39); // the model stays open
}

TEST_F(MainWindowTest, DroppedDirectoryOrConfigNamesTheModel) {
    QMimeData dir;
    dir.setUrls({QUrl::fromLocalFile(test::fixtureModel())});
    EXPECT_EQ(gui::MainWindow::modelPathFromMime(&dir), QFileInfo(test::fixtureModel()).absoluteFilePath());
    QMimeData config;
    config.setUrls({QUrl::fromLocalFile(test::fixtureModel() + QStringLiteral("/config.json"))});
    EXPECT_EQ(gui::MainWindow::modelPathFromMime(&config),
              QFileInfo(test::fixtureModel()).absoluteFilePath());
    QMimeData other;
    other.setUrls({QUrl::fromLocalFile(test::fixtureModel() + QStringLiteral("/reference.json"))});
    EXPECT_TRUE(gui::MainWindow::modelPathFromMime(&other).isEmpty());
    QMimeData text;
    text.setText(QStringLiteral("hello"));
    EXPECT_TRUE(gui::MainWindow::modelPathFromMime(&text).isEmpty());
    // A model in one file (ONNX classifier, GGUF) is the file itself.
    const QString onnx = QStringLiteral(QS_FIXTURES_DIR "/digits-cnn/model.onnx");
    QMimeData file;
    file.setUrls({QUrl::fromLocalFile(onnx)});
    EXPECT_EQ(gui::MainWindow::modelPathFromMime(&file), QFileInfo(onnx).absoluteFilePath());
}

TEST_F(MainWindowTest, SelectionIsSharedAndRowsCopyAsCsv) {
    openFixture();
    const QString name = QStringLiteral("model.layers.2.self_attn.v_proj.weight");
    m_window->viewContext()->setSelectedLayer(name);
    QTableView* view = table()->tableView();
    const QModelIndex current = view->currentIndex();
    ASSERT_TRUE(current.isValid());
    EXPECT_EQ(current.siblingAtColumn(views::LayerTableModel::Name).data().toString(), name);
    // Selecting in the table selects everywhere.
    view->selectRow(0);
    EXPECT_EQ(m_window->viewContext()->selectedLayer(), view->model()->index(0, 0).data().toString());
    const QStringList lines = table()->csv(true).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    ASSERT_EQ(lines.size(), 2);
    EXPECT_TRUE(lines[0].startsWith(QStringLiteral("name,shape,dtype,parameters")));
    EXPECT_TRUE(lines[1].startsWith(m_window->viewContext()->selectedLayer() + QLatin1Char(',')));
    EXPECT_EQ(table()->csv(false).count(QLatin1Char('\n')), 40); // header + 39 rows
}

TEST_F(MainWindowTest, LayoutAndRecentModelsPersist) {
    openFixture();
    m_window->show();
    m_window->resize(1234, 777);
    QTest::qWait(50);
    m_window->close();
    gui::MainWindow second(m_registries, m_plugins);
    EXPECT_EQ(second.size(), QSize(1234, 777));
    EXPECT_EQ(second.recentModels().value(0), QFileInfo(test::fixtureModel()).absoluteFilePath());
}

TEST_F(MainWindowTest, ToolbarAndFormShareTheSpec) {
    auto* form = m_window->parameters()->specForm();
    EXPECT_EQ(form->values().at("format"), "int4");
    EXPECT_EQ(form->values().at("group"), 32);
    EXPECT_EQ(form->values().at("sym"), false);
    auto* format = m_window->findChild<QComboBox*>(QStringLiteral("formatCombo"));
    ASSERT_NE(format, nullptr);
    format->setCurrentText(QStringLiteral("int8"));
    EXPECT_EQ(form->values().at("format"), "int8");
    form->setValue(QStringLiteral("format"), "int3");
    EXPECT_EQ(format->currentText(), QStringLiteral("int3"));
    form->setValue(QStringLiteral("granularity"), "channel");
    EXPECT_FALSE(form->editor(QStringLiteral("group"))->isEnabled());
}

TEST_F(MainWindowTest, FormatsViewAndParametersShareTheSpec) {
    openFixture();
    auto* formats = qobject_cast<views::FormatsView*>(m_window->view(QStringLiteral("formats")));
    ASSERT_NE(formats, nullptr);
    auto* tabs = m_window->findChild<QTabWidget*>(QStringLiteral("viewTabs"));
    ASSERT_NE(tabs, nullptr);
    m_window->show();
    ASSERT_TRUE(m_window->showView(QStringLiteral("formats")));
    m_window->viewContext()->setSelectedLayer(QStringLiteral("model.layers.1.mlp.down_proj.weight"));
    ASSERT_TRUE(QTest::qWaitFor(
        [&] { return !formats->isComparing() && formats->trialModel()->rowCount() > 0; }, 60000));
    // The shared spec starts as the form's.
    EXPECT_EQ(m_window->viewContext()->currentSpec().label(), "int4 asym group 32");

    QTableView* table = formats->tableView();
    const auto selectLabel = [&](const QString& label) {
        for (int r = 0; r < table->model()->rowCount(); ++r)
            if (table->model()->index(r, views::FormatTrialModel::Format).data().toString() == label) {
                table->selectRow(r);
                return true;
            }
        return false;
    };
    // Choosing a row in the view moves the Parameters form and the toolbar.
    auto* form = m_window->parameters()->specForm();
    ASSERT_TRUE(selectLabel(QStringLiteral("nf4 sym channel")));
    EXPECT_EQ(form->values().at("format"), "nf4");
    EXPECT_EQ(form->values().at("granularity"), "channel");
    EXPECT_EQ(form->values().at("sym"), true);
    EXPECT_EQ(form->values().at("group"), 32);
    EXPECT_EQ(m_window->findChild<QComboBox*>(QStringLiteral("formatCombo"))->currentText(),
              QStringLiteral("nf4"));
    // An NV row shows the block the engine runs (locked), and the group size comes back with a free format.
    ASSERT_TRUE(selectLabel(QStringLiteral("nvfp4 sym block 16")));
    EXPECT_EQ(form->values().at("format"), "nvfp4");
    EXPECT_EQ(form->values().at("granularity"), "block");
    EXPECT_EQ(form->values().at("group"), 16);
    EXPECT_FALSE(form->editor(QStringLiteral("group"))->isEnabled());
    form->setValue(QStringLiteral("format"), "int4");
    EXPECT_EQ(form->values().at("granularity"), "channel");
    EXPECT_EQ(form->values().at("group"), 32);

    // Editing the form moves the view.
    ASSERT_TRUE(selectLabel(QStringLiteral("int8 asym group 32")));
    form->setValue(QStringLiteral("format"), "int6");
    EXPECT_EQ(m_window->viewContext()->currentSpec().label(), "int6 asym group 32");
    EXPECT_EQ(formats->findChild<QComboBox*>(QStringLiteral("formatsFormatCombo"))->currentText(),
              QStringLiteral("int6"));
    EXPECT_EQ(table->currentIndex().siblingAtColumn(views::FormatTrialModel::Format).data().toString(),
              QStringLiteral("int6 asym group 32"));
    ASSERT_TRUE(QTest::qWaitFor([&] { return formats->isDetailCurrent(); }, 30000));
    EXPECT_EQ(formats->tickCount(), 64);
    // A new group size recomputes the table's group rows.
    form->setValue(QStringLiteral("group"), 64);
    ASSERT_TRUE(QTest::qWaitFor(
        [&] { return !formats->isComparing() && formats->trialModel()->rowCount() > 0; }, 60000));
    EXPECT_GE(formats->trialModel()->rowOf(m_window->viewContext()->currentSpec()), 0);
    EXPECT_EQ(m_window->viewContext()->currentSpec().label(), "int6 asym group 64");
}

// A layout saved on a bigger or another screen reopens on the screen there is.
TEST_F(MainWindowTest, ReopensOnScreen) {
    m_window->show();
    m_window->setGeometry(9000, 7000, 3000, 2000); // on a screen that is gone, larger than this one
    m_window->close();
    m_window = std::make_unique<gui::MainWindow>(m_registries, m_plugins);
    m_window->show();
    QScreen* screen = QGuiApplication::primaryScreen();
    ASSERT_NE(screen, nullptr);
    EXPECT_TRUE(screen->availableGeometry().contains(m_window->frameGeometry()))
        << m_window->frameGeometry().x() << "," << m_window->frameGeometry().y() << " "
        << m_window->frameGeometry().width() << "x" << m_window->frameGeometry().height();
}

} // namespace
