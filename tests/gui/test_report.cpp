// SPDX-License-Identifier: MIT
// Reports of a hand-made project: HTML with its sections and images, a PDF that poppler renders.
#include "gui_test_support.h"
#include "report.h"
#include "test_report_project.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QAbstractTextDocumentLayout>
#include <QTextBlock>
#include <QTextFrame>
#include <QProcess>
#include <QStandardPaths>
#include <gtest/gtest.h>

namespace {

using namespace qs;

class ReportTest : public ::testing::Test {
protected:
    void SetUp() override {
        test::ensureApp();
        m_dir = test::outputDir() + QStringLiteral("/report");
        QDir(m_dir).removeRecursively();
        QDir().mkpath(m_dir);
        m_project = (m_dir + QStringLiteral("/hand.qsproj")).toStdString();
        test::makeHandProject(m_project, QS_FIXTURES_DIR "/tinyllama-bpe512");
    }
    QString m_dir;
    std::filesystem::path m_project;
};

TEST_F(ReportTest, ContentHasTheSectionsAndFigures) {
    const auto content = report::buildReport(m_project, std::nullopt);
    for (const char* h : {"Model and data", "Size against quality (Pareto front)", "Method comparison", "Outliers",
                          "All runs", "Provenance"})
        EXPECT_TRUE(content.headings.contains(QString::fromUtf8(h))) << h;
    EXPECT_EQ(content.runId, 5); // gptq int4: fewest bits within 5% of fp32
    EXPECT_TRUE(content.headings.contains(QStringLiteral("Chosen run: gptq int4 sym channel")));
    EXPECT_TRUE(content.images.count(QStringLiteral("pareto.png")));
    EXPECT_TRUE(content.images.count(QStringLiteral("kurtosis.png"))); // the fixture model opens
    for (const auto& [name, image] : content.images) {
        EXPECT_FALSE(image.isNull()) << name.toStdString();
        EXPECT_GT(image.width(), 500);
    }
    EXPECT_TRUE(content.html.contains(QStringLiteral("model.layers.0.mlp.down_proj.weight")));
    EXPECT_TRUE(content.html.contains(QStringLiteral("quantscope-cli sweep tiny --grid G.json")));

    // Settings in words, not the stored key.
    EXPECT_FALSE(content.html.contains(QStringLiteral("{&quot;ctx&quot;")));
    const auto chosen = report::buildReport(m_project, 3);
    EXPECT_EQ(chosen.runId, 3);
    EXPECT_TRUE(chosen.html.contains(QStringLiteral("Run 3, chosen on the command line.")));
    EXPECT_THROW(report::buildReport(m_project, 99), std::exception);
    // Only the sections asked for, in the report's order; an unknown one is an error.
    report::ReportOptions some(3);
    some.sections = {"provenance", "pareto"};
    const auto part = report::buildReport(m_project, some);
    EXPECT_EQ(part.headings, (QStringList{QStringLiteral("Size against quality (Pareto front)"), QStringLiteral("Provenance")}));
    EXPECT_EQ(part.images.size(), 1u); // the Pareto chart only
    some.paretoByFormat = true; // the chart's series per format
    EXPECT_TRUE(report::buildReport(m_project, some).html.contains(QStringLiteral("Runs per format")));
    some.sections = {"pareto", "appendix"};
    EXPECT_THROW(report::buildReport(m_project, some), std::exception);
}

TEST_F(ReportTest, HtmlWritesAFolderOfImages) {
    const QString out = m_dir + QStringLiteral("/report.html");
    QString error;
    ASSERT_TRUE(report::writeReport(m_project, out.toStdString(), std::nullopt, &error)) << error.toStdString();
    QFile f(out);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    const QString html = QString::fromUtf8(f.readAll());
    EXPECT_TRUE(html.contains(QStringLiteral("<h2>Method comparison</h2>")));
    EXPECT_TRUE(html.contains(QStringLiteral("src=\"report_files/pareto.png\"")));
    EXPECT_GT(QFileInfo(m_dir + QStringLiteral("/report_files/pareto.png")).size(), 1000);

    EXPECT_FALSE(report::writeReport(m_project, (m_dir + QStringLiteral("/r.docx")).toStdString(), {}, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("docx")));
    EXPECT_FALSE(report::writeReport("/nonexistent/x.qsproj", out.toStdString(), {}, &error));
}

TEST_F(ReportTest, PdfIsAnA4DocumentPopplerRenders) {
    const QString out = m_dir + QStringLiteral("/report.pdf");
    QString error;
    ASSERT_TRUE(report::writeReport(m_project, out.toStdString(), std::nullopt, &error)) << error.toStdString();
    QFile f(out);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    EXPECT_EQ(f.read(5), QByteArray("%PDF-"));
    f.close();
    const QString pdftoppm = QStandardPaths::findExecutable(QStringLiteral("pdftoppm"));
    if (pdftoppm.isEmpty()) GTEST_SKIP() << "pdftoppm not installed";
    QProcess p;
    p.start(pdftoppm, {QStringLiteral("-png"), QStringLiteral("-r"), QStringLiteral("30"), QStringLiteral("-f"),
                       QStringLiteral("1"), QStringLiteral("-l"), QStringLiteral("1"), out,
                       m_dir + QStringLiteral("/page")});
    ASSERT_TRUE(p.waitForFinished(60000));
    EXPECT_EQ(p.exitCode(), 0) << p.readAllStandardError().toStdString();
    const QStringList pages = QDir(m_dir).entryList({QStringLiteral("page*.png")});
    ASSERT_EQ(pages.size(), 1);
    // A4 at 30 dpi: 248 x 351 pixels.
    const QImage page(m_dir + QLatin1Char('/') + pages[0]);
    EXPECT_NEAR(page.width(), 248, 2);
    EXPECT_NEAR(page.height(), 351, 2);
}

// The command line asks what the GUI's dialog asks: sections and Pareto colours reach the report.
TEST_F(ReportTest, CliSectionsAndParetoColours) {
    const QString out = m_dir + QStringLiteral("/cli-part.html");
    QProcess p;
    p.start(QStringLiteral(QS_BIN_DIR "/quantscope-cli"),
            {QStringLiteral("report"), QString::fromStdString(m_project.string()), QStringLiteral("--out"), out,
             QStringLiteral("--sections"), QStringLiteral("pareto,runs"), QStringLiteral("--pareto-by-format")});
    ASSERT_TRUE(p.waitForFinished(120000));
    ASSERT_EQ(p.exitCode(), 0) << p.readAllStandardError().toStdString();
    const QByteArray html = test::readFile(out);
    ASSERT_FALSE(html.isEmpty());
    EXPECT_TRUE(html.contains("Runs per format"));
    EXPECT_TRUE(html.contains("All runs"));
    EXPECT_FALSE(html.contains("Provenance"));
    EXPECT_FALSE(html.contains("Method comparison"));
}

// The PDF's pages as a reader turns them: no heading alone at the foot of a page (its text follows on the
// next), and no page but the last left near-empty by a forced break. Read from the PDF itself with poppler.
TEST_F(ReportTest, PdfPagesHaveNoOrphanedHeadingsOrNearEmptyPages) {
    const QString out = m_dir + QStringLiteral("/pages.pdf");
    QString error;
    ASSERT_TRUE(report::writeReport(m_project, out.toStdString(), 3, &error)) << error.toStdString();
    const QString pdftotext = QStandardPaths::findExecutable(QStringLiteral("pdftotext"));
    const QString pdftoppm = QStandardPaths::findExecutable(QStringLiteral("pdftoppm"));
    ASSERT_FALSE(pdftotext.isEmpty() || pdftoppm.isEmpty()) << "poppler-utils is installed by scripts/install-deps.sh";
    QProcess text;
    text.start(pdftotext, {QStringLiteral("-layout"), out, QStringLiteral("-")});
    ASSERT_TRUE(text.waitForFinished(60000));
    const QStringList pages = QString::fromUtf8(text.readAllStandardOutput()).split(QLatin1Char('\f'));
    const auto content = report::buildReport(m_project, 3);
    QStringList headings = content.headings;
    headings << QStringLiteral("Recipe") << QStringLiteral("Per-layer error");
    int printed = 0;
    for (int i = 0; i < pages.size(); ++i) {
        QStringList lines;
        for (const QString& l : pages[i].split(QLatin1Char('\n')))
            if (!l.trimmed().isEmpty()) lines << l.trimmed();
        if (lines.isEmpty()) continue; // pdftotext ends with a form feed
        ++printed;
        if (i + 1 < pages.size() && !pages[i + 1].trimmed().isEmpty()) {
            EXPECT_FALSE(headings.contains(lines.last())) << "page " << i + 1 << " ends with the heading "
                                                         << lines.last().toStdString();
        }
    }
    ASSERT_GE(printed, 2);
    QProcess png;
    png.start(pdftoppm, {QStringLiteral("-png"), QStringLiteral("-r"), QStringLiteral("20"), out, m_dir + QStringLiteral("/pg")});
    ASSERT_TRUE(png.waitForFinished(60000));
    QStringList files = QDir(m_dir).entryList({QStringLiteral("pg*.png")}, QDir::Files, QDir::Name);
    ASSERT_EQ(files.size(), printed);
    for (int i = 0; i + 1 < files.size(); ++i) {
        const QImage page = QImage(m_dir + QLatin1Char('/') + files[i]).convertToFormat(QImage::Format_Grayscale8);
        int lowestInk = 0;
        for (int y = 0; y < page.height(); ++y)
            for (int x = 0; x < page.width(); ++x)
                if (qGray(page.pixel(x, y)) < 200) lowestInk = y;
        EXPECT_GT(lowestInk, page.height() * 0.3) << files[i].toStdString() << " is near-empty";
    }
}

// keepHeadingsWithText on documents made to need it: a heading that lands in a page's last lines moves to
// the next page; a forced break after a page's first lines is dropped.
TEST(ReportPagination, HeadingsKeepWithTheirTextAndNoPageIsLeftNearEmpty) {
    test::ensureApp();
    const auto headingTop = [](QTextDocument& doc) {
        for (QTextBlock b = doc.begin(); b.isValid(); b = b.next())
            if (b.blockFormat().headingLevel() == 2) return doc.documentLayout()->blockBoundingRect(b).top();
        return -1.0;
    };
    const auto makeDoc = [](QTextDocument& doc, const QString& html) {
        doc.setPageSize(QSizeF(400, 300));
        QTextFrameFormat f = doc.rootFrame()->frameFormat();
        f.setMargin(0);
        doc.rootFrame()->setFrameFormat(f);
        doc.setHtml(html);
    };
    // Lines until the heading sits in the last tenth of the first page.
    QString lines;
    double top = 0;
    for (int n = 0; n < 200; ++n) {
        lines += QStringLiteral("<p>line %1</p>").arg(n);
        QTextDocument probe;
        makeDoc(probe, lines + QStringLiteral("<h2>Heading</h2><p>its text</p>"));
        top = headingTop(probe);
        if (top > 0.9 * 300) break;
    }
    ASSERT_GT(top, 0.9 * 300);
    ASSERT_LT(top, 300.0);
    QTextDocument orphan;
    makeDoc(orphan, lines + QStringLiteral("<h2>Heading</h2><p>its text</p>"));
    report::keepHeadingsWithText(orphan);
    EXPECT_GE(headingTop(orphan), 300.0) << "the heading opens page 2";
    EXPECT_LT(headingTop(orphan), 330.0);

    QTextDocument forced;
    makeDoc(forced, QStringLiteral("<p>one line</p><h2 style=\"page-break-before: always;\">Heading</h2><p>text</p>"));
    ASSERT_GE(headingTop(forced), 300.0); // the break put it on page 2
    report::keepHeadingsWithText(forced);
    EXPECT_LT(headingTop(forced), 300.0) << "page 1 would have held one line: the break is dropped";
}

} // namespace
