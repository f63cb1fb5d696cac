// SPDX-License-Identifier: MIT
// Writing a report: HTML + a folder of PNGs, or an A4 PDF through QTextDocument and QPdfWriter.
#include "report.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QPageLayout>
#include <QPageSize>
#include <QPdfWriter>
#include <QTextDocument>
#include <QUrl>

namespace qs::report {

namespace {

// QTextDocument::print lays out inside 2 cm margins of its own (the writer's are set to 0): an A4
// text column is 170 mm ≈ 640 CSS pixels; figures a little narrower.
constexpr int kPdfFigureWidth = 620;

bool fail(QString* error, const QString& message) {
    if (error) *error = message;
    return false;
}

} // namespace

bool writePdf(const ReportContent& content, const QString& path, QString* error) {
    QTextDocument doc;
    QFont font(QStringLiteral("DejaVu Sans"));
    font.setPointSizeF(9.5);
    doc.setDefaultFont(font);
    doc.setDefaultStyleSheet(QStringLiteral("h1 { font-size: 18pt; } h2 { font-size: 14pt; color: #1d3f6e; } "
                                            "h3 { font-size: 11pt; } td, th { font-size: 8.5pt; } pre { font-size: 8pt; }"));
    for (const auto& [name, image] : content.images)
        doc.addResource(QTextDocument::ImageResource, QUrl(name), image);
    doc.setHtml(content.html);

    QPdfWriter writer(path);
    // A4 by page size id; device pixels would be read as points and give a giant page.
    writer.setPageSize(QPageSize(QPageSize::A4));
    writer.setPageMargins(QMarginsF(0, 0, 0, 0), QPageLayout::Millimeter);
    writer.setTitle(content.title);
    writer.setCreator(QStringLiteral("QuantScope"));
    doc.print(&writer);
    if (!QFileInfo(path).exists() || QFileInfo(path).size() == 0)
        return fail(error, QStringLiteral("%1: could not write the PDF").arg(path));
    return true;
}

bool writeReport(const std::filesystem::path& project, const std::filesystem::path& out,
                 const ReportOptions& options, QString* error) {
    const QString outPath = QString::fromStdString(out.string());
    const QFileInfo info(outPath);
    const QString suffix = info.suffix().toLower();
    try {
        if (suffix == QLatin1String("pdf")) {
            const ReportContent content = buildReport(project, options, QString(), kPdfFigureWidth);
            return writePdf(content, outPath, error);
        }
        if (suffix != QLatin1String("html") && suffix != QLatin1String("htm"))
            return fail(error, QStringLiteral("%1: unknown report format '%2' (use .html or .pdf)").arg(outPath, suffix));
        // Images go to "<stem>_files/" beside the HTML, referenced relatively so the pair can be moved.
        const QString folder = info.completeBaseName() + QStringLiteral("_files");
        const ReportContent content = buildReport(project, options, folder + QLatin1Char('/'));
        QDir dir = info.absoluteDir();
        if (!dir.mkpath(folder)) return fail(error, QStringLiteral("%1: cannot create the folder").arg(dir.filePath(folder)));
        for (const auto& [name, image] : content.images)
            if (!image.save(dir.filePath(name), "PNG"))
                return fail(error, QStringLiteral("%1: could not write the image").arg(dir.filePath(name)));
        QFile file(outPath);
        if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return fail(error, QStringLiteral("%1: %2").arg(outPath, file.errorString()));
        file.write(content.html.toUtf8());
        if (!file.flush()) return fail(error, QStringLiteral("%1: %2").arg(outPath, file.errorString()));
        return true;
    } catch (const std::exception& e) {
        return fail(error, QString::fromStdString(e.what()));
    }
}

} // namespace qs::report
