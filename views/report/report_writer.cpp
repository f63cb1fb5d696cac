// SPDX-License-Identifier: MIT
// Writing a report: HTML + a folder of PNGs, or an A4 PDF through QTextDocument and QPdfWriter.
#include "report.h"

#include <QAbstractTextDocumentLayout>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QPageLayout>
#include <QPageSize>
#include <QPainter>
#include <QPalette>
#include <QPdfWriter>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextFrame>
#include <QUrl>
#include <cmath>

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
    // Laid out and printed page by page here rather than by QTextDocument::print, so the page breaks can be
    // mended between layout and printing (the layout needs the active painter's device for its metrics).
    QPainter painter;
    if (!painter.begin(&writer)) return fail(error, QStringLiteral("%1: cannot write the PDF").arg(path));
    doc.documentLayout()->setPaintDevice(painter.device());
    // Everything in the writer's device pixels: 2 cm margins drawn by the painter, the document laid out on
    // the text area alone (a frame margin would be rescaled from screen to device pixels by the layout).
    const qreal margin = 2 / 2.54 * writer.logicalDpiY();
    QTextFrameFormat frame = doc.rootFrame()->frameFormat();
    frame.setMargin(0);
    doc.rootFrame()->setFrameFormat(frame);
    const QSizeF body(writer.width() - 2 * margin, writer.height() - 2 * margin);
    doc.setPageSize(body);
    keepHeadingsWithText(doc);
    for (int i = 0; i < doc.pageCount(); ++i) {
        if (i > 0) writer.newPage();
        painter.save();
        painter.translate(margin, margin - i * body.height());
        const QRectF view(0, i * body.height(), body.width(), body.height());
        painter.setClipRect(view);
        QAbstractTextDocumentLayout::PaintContext ctx;
        ctx.clip = view;
        ctx.palette.setColor(QPalette::Text, Qt::black); // not the platform's text colour
        doc.documentLayout()->draw(&painter, ctx);
        painter.restore();
    }
    painter.end();
    if (!QFileInfo(path).exists() || QFileInfo(path).size() == 0)
        return fail(error, QStringLiteral("%1: could not write the PDF").arg(path));
    return true;
}

void keepHeadingsWithText(QTextDocument& doc) {
    const qreal pageHeight = doc.pageSize().height();
    const qreal margin = doc.rootFrame()->frameFormat().margin();
    const qreal body = pageHeight - 2 * margin;
    if (pageHeight <= 0 || body <= 0) return;
    QAbstractTextDocumentLayout* layout = doc.documentLayout();
    // Where a y of the layout falls in its page's text area (0 = top of the text area).
    const auto inPage = [&](qreal y) { return std::fmod(y, pageHeight) - margin; };
    for (QTextBlock block = doc.begin(); block.isValid(); block = block.next()) {
        const QTextBlockFormat format = block.blockFormat();
        if (format.headingLevel() < 2 || !block.previous().isValid()) continue;
        const bool forced = format.pageBreakPolicy() & QTextFormat::PageBreak_AlwaysBefore;
        QTextCursor cursor(block);
        QTextBlockFormat changed = format;
        if (forced) {
            // A section that starts on a new page leaves the previous one near-empty when only a few
            // lines spilled onto it: continue on that page instead.
            if (inPage(layout->blockBoundingRect(block.previous()).bottom()) < 0.2 * body) {
                changed.setPageBreakPolicy(format.pageBreakPolicy() & ~QTextFormat::PageBreak_AlwaysBefore);
                cursor.setBlockFormat(changed);
            }
        } else if (inPage(layout->blockBoundingRect(block).top()) > 0.82 * body) {
            // A heading in the last lines of a page would stand alone there: it opens the next page.
            changed.setPageBreakPolicy(format.pageBreakPolicy() | QTextFormat::PageBreak_AlwaysBefore);
            cursor.setBlockFormat(changed);
        }
    }
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
