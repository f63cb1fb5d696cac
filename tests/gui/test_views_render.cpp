// SPDX-License-Identifier: MIT
// Every view as a new user sees it, offscreen at 1600x1000 and 1280x800 with a model, a run and a small
// project: each is written to a PNG under the build folder, and no plot's legend covers its plotted data.
#include "experiment_controller.h"
#include "common/param_form.h"
#include "parameters_panel.h"
#include "window_test.h"

#include <QLabel>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QTabWidget>
#include <QThreadPool>
#include <qcustomplot.h>

namespace {

using namespace qs;

class ViewsRenderTest : public test::WindowTest {};

TEST_F(ViewsRenderTest, NoLegendCoversDataAtEitherScreenSize) {
    const QString project = freshProject(QStringLiteral("render.qsproj"));
    for (const QSize size : {QSize(1600, 1000), QSize(1280, 800)}) {
        // A new window at each size, as a user on that screen gets it (the default layout for its width).
        if (size.width() != 1600) {
            m_window->close();
            QSettings().clear();
            m_window = std::make_unique<gui::MainWindow>(m_registries, m_plugins);
        }
        m_window->resize(size);
        ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
        ASSERT_TRUE(m_window->experiments()->openProject(project, true));
        m_window->experiments()->setEvaluationData(QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt"));
        m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 1);
        for (const char* format : {"int4", "int8"}) { // stored once, found again at the second size
            m_window->parameters()->specForm()->setValue(QStringLiteral("format"), format);
            ASSERT_TRUE(m_window->experiments()->evaluate()) << log();
            ASSERT_TRUE(waitIdle()) << log();
        }
        ASSERT_TRUE(m_window->experiments()->runQuantization());
        ASSERT_TRUE(waitIdle()) << log();
        m_window->show();
        QTest::qWait(100); // the default dock sizes apply once shown
        auto* tabs = m_window->findChild<QTabWidget*>(QStringLiteral("viewTabs"));
        ASSERT_NE(tabs, nullptr);
        for (int t = 0; t < tabs->count(); ++t) {
            const QString id = tabs->widget(t)->property("qsPluginId").toString();
            ASSERT_TRUE(m_window->showView(id));
            // The view's background work (histograms, format trials: QtConcurrent on the global pool)
            // finishes, then its results land and the layout settles; a fixed wait alone lost the race
            // on a loaded machine.
            ASSERT_TRUE(QTest::qWaitFor([] { return QThreadPool::globalInstance()->activeThreadCount() == 0; }, 60000));
            QTest::qWait(150);
            for (QCustomPlot* plot : tabs->widget(t)->findChildren<QCustomPlot*>()) {
                plot->replot();
                for (QCPLayoutElement* e : plot->plotLayout()->elements(true)) {
                    auto* legend = qobject_cast<QCPLegend*>(e);
                    if (!legend || !legend->visible() || legend->itemCount() == 0) continue;
                    for (QCPAxisRect* rect : plot->axisRects())
                        EXPECT_FALSE(legend->outerRect().intersects(rect->rect()))
                            << id.toStdString() << " " << plot->objectName().toStdString() << " at " << size.width();
                }
                // A legend under the data does not narrow it: every axis rect spans most of the plot's width.
                for (QCPAxisRect* rect : plot->axisRects())
                    EXPECT_GT(rect->outerRect().width(), plot->width() * 0.8)
                        << id.toStdString() << " " << plot->objectName().toStdString() << " at " << size.width() << ": "
                        << rect->outerRect().width() << " of " << plot->width();
                // The main legend may also sit in an axis rect's inset (inside the data): it must not.
                for (QCPAxisRect* rect : plot->axisRects())
                    for (QCPLayoutElement* e : rect->insetLayout()->elements(false))
                        if (auto* legend = qobject_cast<QCPLegend*>(e); legend && legend->visible() && legend->itemCount() > 0)
                            ADD_FAILURE() << id.toStdString() << " " << plot->objectName().toStdString()
                                          << ": a legend inside the data at " << size.width();
            }
            // At 1600 pixels no view needs a horizontal scroll (at 1280 a wide one may scroll rather than squeeze).
            if (auto* page = qobject_cast<QScrollArea*>(tabs->widget(t)); page && size.width() == 1600) {
                EXPECT_EQ(page->horizontalScrollBar()->maximum(), 0) << id.toStdString() << " scrolls sideways";
            }
            // Titles and labels are not cut: each text element of a plot is as wide as its text, each
            // single-line label of the view too.
            for (QCustomPlot* plot : tabs->widget(t)->findChildren<QCustomPlot*>())
                for (QCPLayoutElement* e : plot->plotLayout()->elements(true))
                    if (auto* text = qobject_cast<QCPTextElement*>(e); text && text->visible() && !text->text().isEmpty()) {
                        for (const QString& line : text->text().split(QLatin1Char('\n')))
                            EXPECT_LE(QFontMetrics(text->font()).horizontalAdvance(line), text->outerRect().width() + 1)
                                << id.toStdString() << " at " << size.width() << ": title cut: " << line.toStdString();
                    }
            QWidget* view = tabs->widget(t);
            auto cutLabels = [view] { // found afresh each time: a view may replace its labels
                QList<QLabel*> cut;
                for (QLabel* label : view->findChildren<QLabel*>())
                    if (label->isVisible() && !label->wordWrap() && label->textFormat() != Qt::RichText &&
                        !Qt::mightBeRichText(label->text()) && !label->text().isEmpty() &&
                        label->fontMetrics().horizontalAdvance(label->text()) > label->contentsRect().width() + 1)
                        cut.append(label);
                return cut;
            };
            // A result that lands last changes a label's text; its layout request is handled on a later
            // turn of the event loop. A label that is still cut after that is cut.
            (void)QTest::qWaitFor([&] { return cutLabels().isEmpty(); }, 2000); // the check below reports
            for (QLabel* label : cutLabels())
                ADD_FAILURE() << id.toStdString() << " at " << size.width() << ": label cut: " << label->text().toStdString()
                              << " (" << label->fontMetrics().horizontalAdvance(label->text()) << " px in "
                              << label->contentsRect().width() << ")";
            EXPECT_TRUE(m_window->grab().save(
                test::outputDir() + QStringLiteral("/%1-%2x%3.png").arg(id).arg(size.width()).arg(size.height())));
        }
    }
}

} // namespace
