// SPDX-License-Identifier: MIT
// quantscope-report P.qsproj --out report.html|report.pdf [--run ID]: a project's report, headless.
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
                 "usage: quantscope-report P.qsproj --out report.html|report.pdf [--run ID]\n"
                 "  Writes a report of a project: model, Pareto chart, method comparison, the chosen run's\n"
                 "  recipe and per-layer table (--run ID, default: the smallest run on the front within 5%%\n"
                 "  of fp32 perplexity), weight outliers, every run and their provenance.\n"
                 "  .html writes a folder <name>_files of PNGs beside it; .pdf an A4 document.\n");
    return code;
}

} // namespace

int main(int argc, char** argv) {
    std::string project, out;
    std::optional<std::int64_t> run;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") return usage(0);
        if ((a == "--out" || a == "--run") && i + 1 < argc) {
            const std::string v = argv[++i];
            if (a == "--out") {
                out = v;
            } else {
                char* end = nullptr;
                const long long id = std::strtoll(v.c_str(), &end, 10);
                if (!end || *end || id <= 0) {
                    std::fprintf(stderr, "quantscope-report: error: --run %s: expected a run id\n", v.c_str());
                    return 2;
                }
                run = id;
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
    if (!qs::report::writeReport(project, out, run, &error)) {
        std::fprintf(stderr, "quantscope-report: error: %s\n", error.toUtf8().constData());
        return 1;
    }
    std::fprintf(stderr, "quantscope-report: wrote %s\n", out.c_str());
    return 0;
}
