// SPDX-License-Identifier: MIT
// Reports of a project: HTML (with a folder of PNGs) or PDF (QTextDocument + QPdfWriter, A4).
#pragma once
#include <QImage>
#include <QTextDocument>
#include <QString>
#include <QStringList>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace qs::report {

/// The report's sections, in the order they appear: key ("pareto") and title.
const std::vector<std::pair<std::string, QString>>& reportSections();

/// What a report shows: the run it features (nullopt: views::defaultReportRun picks), where that run was
/// chosen (the report says so), which sections (reportSections() keys; empty: all), and how the Pareto
/// chart groups its runs.
struct ReportOptions {
    std::optional<std::int64_t> runId;
    QString chosenBy = QStringLiteral("on the command line");
    std::set<std::string> sections;
    bool paretoByFormat = false; ///< the Pareto chart's series (and colours) per format instead of per method

    ReportOptions() = default;
    ReportOptions(std::nullopt_t) {}
    ReportOptions(std::optional<std::int64_t> run) : runId(run) {}
    ReportOptions(std::int64_t run) : runId(run) {}
};

/// A report before it is written: HTML whose <img src> are the keys of `images`.
struct ReportContent {
    QString title;
    QString html;
    std::map<QString, QImage> images; ///< "pareto.png" -> the rendered plot
    QStringList headings;             ///< the section titles, in order
    std::int64_t runId = 0;           ///< the run whose recipe and layers are shown (0: none)
    QStringList notes;                ///< what could not be shown and why (e.g. the model moved)
};

/// Builds the report of a project: title and provenance, model summary, the Pareto chart, a method
/// comparison (best run per method), the chosen run's recipe and per-layer table (`runId`, or by
/// default the run views::defaultReportRun picks), outlier plots (when the model can be opened) and
/// every run. Image keys are prefixed with `imagePrefix` (e.g. "report_files/"); figures are laid out
/// `figureWidth` CSS pixels wide (less for an A4 page than for a browser).
/// Needs a QApplication (plots are QCustomPlot widgets rendered offscreen). Throws std::exception
/// (core::Error naming the file) when the project cannot be read or `runId` does not exist.
ReportContent buildReport(const std::filesystem::path& project, const ReportOptions& options,
                          const QString& imagePrefix = {}, int figureWidth = 760);

/// Writes the report of `project` to `out`: ".html"/".htm" writes the HTML and a folder
/// "<stem>_files" of PNGs beside it; ".pdf" writes an A4 PDF with the images embedded. Returns false
/// with a message in `error` on failure. Needs a QApplication (see buildReport); stable API for the GUI.
bool writeReport(const std::filesystem::path& project, const std::filesystem::path& out,
                 const ReportOptions& options, QString* error);

/// Prints `content` to an A4 PDF at `path` (images from content.images), its page breaks mended by
/// keepHeadingsWithText. Returns false on failure.
bool writePdf(const ReportContent& content, const QString& path, QString* error);

/// Mends the page breaks of a paginated document (page size and root-frame margin set): a heading in the
/// last 18% of a page's text area moves to the next page (no heading stands alone at a page's foot), and a
/// forced break ("page-break-before") is dropped when the page before it would hold less than 20% (no
/// near-empty pages).
void keepHeadingsWithText(QTextDocument& doc);

} // namespace qs::report
