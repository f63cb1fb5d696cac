// SPDX-License-Identifier: MIT
// quantscope-report P.qsproj --out report.html|report.pdf [--run ID] [--sections S,...]: a project's report,
// headless.
#include "report.h"

#include <QApplication>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace {

int usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: quantscope-report P.qsproj --out report.html|report.pdf [--run ID] [--sections S,...]\n"
                 "                         [--pareto-by-format]\n"
                 "  Writes a report of a project: model, Pareto chart, method comparison, the chosen run's\n"
                 "  recipe and per-layer table (--run ID, default: the smallest run on the front within 5%%\n"
                 "  of fp32 perplexity), weight outliers, every run and their provenance.\n"
                 "  .html writes a folder <name>_files of PNGs beside it; .pdf an A4 document.\n"
                 "  --sections keeps only some of: model, pareto, methods, run, outliers, runs, provenance.\n"
                 "  --pareto-by-format colours the Pareto chart per format instead of per method.\n");
    return code;
}

} // namespace

int main(int argc, char** argv) {
    std::string project, out;
    qs::report::ReportOptions options;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") return usage(0);
        if (a == "--pareto-by-format") {
            options.paretoByFormat = true;
            continue;
        }
        if ((a == "--out" || a == "--run" || a == "--sections") && i + 1 < argc) {
            const std::string v = argv[++i];
            if (a == "--out") {
                out = v;
            } else if (a == "--sections") {
                std::size_t from = 0;
                while (from <= v.size()) {
                    const std::size_t comma = std::min(v.find(',', from), v.size());
                    if (comma > from) options.sections.insert(v.substr(from, comma - from));
                    from = comma + 1;
                }
            } else {
                char* end = nullptr;
                const long long id = std::strtoll(v.c_str(), &end, 10);
                if (!end || *end || id <= 0) {
                    std::fprintf(stderr, "quantscope-report: error: --run %s: expected a run id\n", v.c_str());
                    return 2;
                }
                options.runId = id;
            }
        } else if (!a.empty() && a[0] != '-' && project.empty()) {
            project = a;
        } else {
            std::fprintf(stderr, "quantscope-report: error: unexpected argument '%s'\n", a.c_str());
            return usage(2);
        }
    }
    if (project.empty() || out.empty()) return usage(2);
    // Plots are widgets rendered to images: without a display, use the offscreen platform.
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY") &&
        qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QString error;
    if (!qs::report::writeReport(project, out, options, &error)) {
        std::fprintf(stderr, "quantscope-report: error: %s\n", error.toUtf8().constData());
        return 1;
    }
    std::fprintf(stderr, "quantscope-report: wrote %s\n", out.c_str());
    return 0;
}
