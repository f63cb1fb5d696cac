// SPDX-License-Identifier: MIT
// Reports of a hand-made project: HTML with its sections and images, a PDF that poppler renders.
#include "gui_test_support.h"
#include "report.h"
#include "test_report_project.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
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
    QFile f(out);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    const QByteArray html = f.readAll();
    EXPECT_TRUE(html.contains("Runs per format"));
    EXPECT_TRUE(html.contains("All runs"));
    EXPECT_FALSE(html.contains("Provenance"));
    EXPECT_FALSE(html.contains("Method comparison"));
}

} // namespace
