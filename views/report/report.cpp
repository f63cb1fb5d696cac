// SPDX-License-Identifier: MIT
// Builds the report's HTML. Kept to the HTML subset QTextDocument lays out (tables, <h1..3>, <pre>,
// <img width>, page-break-before), so the same text makes the HTML file and the PDF.
#include "report.h"

#include "calib/calib_cache.h"
#include "experiment/analysis_run.h"
#include "experiment/cost_run.h"
#include "experiment/recipe_run.h"
#include "quant/model_quantizer.h"
#include "model/model.h"
#include "nn/causal_lm.h"
#include "outlier_stats.h"
#include "pareto_data.h"
#include "report_plots.h"
#include "store/project.h"
#include "base/error.h"

#include <QDateTime>
#include <QFileInfo>
#include <QLocale>
#include <QSysInfo>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <set>
#include <tuple>

namespace qs::report {

namespace {


QString esc(const std::string& s) {
    return QString::fromStdString(s).toHtmlEscaped();
}

QString num(const std::optional<double>& v, int decimals, bool sign = false) {
    if (!v || std::isnan(*v)) return QStringLiteral("—");
    const QString s = QLocale(QLocale::English).toString(*v, 'f', decimals);
    return sign && *v >= 0 ? QLatin1Char('+') + s : s;
}

QString sig(const std::optional<double>& v) {
    return v && !std::isnan(*v) ? QString::number(*v, 'g', 3) : QStringLiteral("—");
}

QString pct(const std::optional<double>& v) {
    return v ? QString::number(100.0 * *v, 'f', 1) + QLatin1Char('%') : QStringLiteral("—");
}

// A table with a header row; QTextDocument honours border-collapse and cell padding.
class Table {
public:
    /// `align`: one letter per column: 'l' left, 'r' right (numbers), 'w' left and wrapped (long text);
    /// other cells do not wrap.
    Table(const QStringList& header, const QString& align, const QString& width = QStringLiteral("100%"))
        : m_align(align) {
        m_html = QStringLiteral("<table width=\"%1\" cellspacing=\"0\" cellpadding=\"3\" "
                                "style=\"border-collapse: collapse; border: 1px solid #999;\"><tr>")
                     .arg(width);
        for (const QString& h : header)
            m_html += QStringLiteral("<th style=\"background-color: #dfe7f1; border: 1px solid #999; "
                                     "white-space: nowrap;\" "
                                     "align=\"left\">%1</th>")
                          .arg(h);
        m_html += QStringLiteral("</tr>");
    }
    void row(const QStringList& cells, bool highlight = false) {
        ++m_rows;
        m_html += highlight ? QStringLiteral("<tr style=\"background-color: #fff2d6;\">") : QStringLiteral("<tr>");
        for (int i = 0; i < cells.size(); ++i) {
            const QChar a = i < m_align.size() ? m_align[i] : QLatin1Char('l');
            m_html += QStringLiteral("<td style=\"border: 1px solid #bbb;%1\"%2>%3</td>")
                          .arg(a == QLatin1Char('w') ? QString() : QStringLiteral(" white-space: nowrap;"),
                               a == QLatin1Char('r') ? QStringLiteral(" align=\"right\"") : QString(), cells[i]);
        }
        m_html += QStringLiteral("</tr>");
    }
    QString html() const { return m_html + QStringLiteral("</table>"); }
    bool empty() const { return m_rows == 0; }

private:
    QString m_align;
    QString m_html;
    int m_rows = 0;
};

// Key/value rows without a header.
QString facts(const std::vector<std::pair<QString, QString>>& rows) {
    QString html = QStringLiteral("<table cellspacing=\"0\" cellpadding=\"2\">");
    for (const auto& [k, v] : rows)
        html += QStringLiteral("<tr><td><b>%1</b></td><td>&nbsp;&nbsp;%2</td></tr>").arg(k, v);
    return html + QStringLiteral("</table>");
}

struct Builder {
    ReportContent out;
    QString prefix;
    int figureWidth = kFigureWidth;
    std::set<std::string> wanted; ///< empty: every section
    bool muted = false;           ///< the current section was not asked for

    /// Starts section `key`; what follows is left out unless it was asked for.
    bool section(const std::string& key) {
        muted = !wanted.empty() && !wanted.count(key);
        return !muted;
    }
    void raw(const QString& html) {
        if (!muted) out.html += html;
    }
    void heading(const QString& text, bool pageBreak = false) {
        if (muted) return;
        out.headings << text;
        out.html += pageBreak ? QStringLiteral("<h2 style=\"page-break-before: always;\">%1</h2>").arg(text.toHtmlEscaped())
                              : QStringLiteral("<h2>%1</h2>").arg(text.toHtmlEscaped());
    }
    void para(const QString& html) { raw(QStringLiteral("<p>%1</p>").arg(html)); }
    void note(const QString& text) {
        if (muted) return;
        out.notes << text;
        out.html += QStringLiteral("<p><i>%1</i></p>").arg(text.toHtmlEscaped());
    }
    void image(const QString& name, const QImage& img, const QString& caption) {
        if (muted) return;
        out.images[prefix + name] = img;
        // Width in CSS pixels of the figure (the image has twice as many for print).
        out.html += QStringLiteral("<p align=\"center\"><img src=\"%1\" width=\"%2\"><br>"
                                   "<span style=\"font-size: small; color: #444;\">%3</span></p>")
                        .arg(prefix + name)
                        .arg(figureWidth)
                        .arg(caption);
    }
};

std::string methodOfRecipe(const core::RunRecord& r) {
    return views::recipeMethod(r);
}

// Activation outliers of the layer input with the most extreme channel, from the calibration data the
// run recorded (eval settings "calib"), through core's statistics cache. Left out, with a note, when the
// run used no calibration data or it cannot be read.
void activationSection(Builder& b, const core::Model& model, const core::RunRecord& run) {
    const auto eval = nlohmann::json::parse(run.evalSettings, nullptr, false);
    const std::string calib = eval.is_object() ? eval.value("calib", std::string()) : std::string();
    if (calib.empty()) {
        b.para(QStringLiteral("<span style=\"font-size: small;\">This run used no calibration data, so activation "
                              "outliers are not shown; the workbench's Outliers view collects them from any text."
                              "</span>"));
        return;
    }
    try {
        const int ctx = eval.value("ctx", 128);
        const long long windows = eval.value("calib_windows", 8LL);
        const auto data = core::loadCalibrationData(calib, model.path(), ctx, windows);
        const core::CausalLm lm(model);
        const auto stats = core::cachedModelStats(model, lm, data, false, {}, {});
        const core::LinearInputStats* peak = nullptr;
        double peakRatio = 0;
        for (const auto& s : stats) {
            const double median = views::percentile(s.absMax, 50);
            const double max = s.absMax.empty() ? 0 : *std::max_element(s.absMax.begin(), s.absMax.end());
            if (median > 0 && max / median > peakRatio) {
                peakRatio = max / median;
                peak = &s;
            }
        }
        if (!peak) return;
        const QString site = QString::fromStdString(peak->site);
        b.para(QStringLiteral("Activations are where the large outliers of language models live: a few input channels "
                              "of a Linear carry values far larger than the rest, for every token. Weight-only "
                              "quantization does not see them, but activation quantization does, and methods such as "
                              "SmoothQuant and AWQ move that range from the activations into the weights."));
        b.image(QStringLiteral("activations.png"),
                renderChannels(peak->absMax, QStringLiteral("max |x| per input channel"),
                               QStringLiteral("input channel of %1").arg(site)),
                QStringLiteral("Per-input-channel max |x| of <tt>%1</tt> over %2 calibration tokens of <tt>%3</tt>: "
                               "the largest channel is %4× the median, the most extreme input of the model.")
                    .arg(site.toHtmlEscaped())
                    .arg(peak->samples)
                    .arg(QString::fromStdString(calib).toHtmlEscaped())
                    .arg(peakRatio, 0, 'f', 1));
    } catch (const std::exception& e) {
        b.note(QStringLiteral("Activation statistics not shown: %1").arg(e.what()));
    }
}

} // namespace

const std::vector<std::pair<std::string, QString>>& reportSections() {
    static const std::vector<std::pair<std::string, QString>> sections{
        {"model", QStringLiteral("Model and data")},
        {"pareto", QStringLiteral("Size against quality (Pareto front)")},
        {"methods", QStringLiteral("Method comparison")},
        {"cost", QStringLiteral("Hardware cost")},
        {"landscape", QStringLiteral("Why it is as good as it is: landscape, prediction, misalignment, spans")},
        {"run", QStringLiteral("Chosen run")},
        {"outliers", QStringLiteral("Outliers")},
        {"runs", QStringLiteral("All runs")},
        {"provenance", QStringLiteral("Provenance")}};
    return sections;
}

ReportContent buildReport(const std::filesystem::path& projectPath, const ReportOptions& options,
                          const QString& imagePrefix, int figureWidth) {
    const std::optional<std::int64_t>& runId = options.runId;
    const QString& chosenBy = options.chosenBy;
    auto project = core::Project::open(projectPath, false);
    const auto runs = project->runs();
    Builder b;
    b.prefix = imagePrefix;
    b.figureWidth = figureWidth;
    for (const auto& key : options.sections)
        if (std::none_of(reportSections().begin(), reportSections().end(), [&](const auto& s) { return s.first == key; }))
            throw core::Error("report: unknown section '" + key + "'");
    b.wanted = options.sections;
    const QString projectName = QFileInfo(QString::fromStdString(projectPath.string())).completeBaseName();
    b.out.title = QStringLiteral("QuantScope report: %1").arg(projectName);

    // The chosen run.
    std::int64_t chosen = runId.value_or(views::defaultReportRun(runs));
    const core::RunRecord* run = nullptr;
    for (const auto& r : runs)
        if (r.id == chosen) run = &r;
    if (runId && !run)
        throw core::Error(projectPath.string() + ": no run with id " + std::to_string(*runId));
    b.out.runId = run ? run->id : 0;
    const core::RunRecord* reference = nullptr;
    for (const auto& r : runs)
        if (r.status == "finished" && views::isReferenceRun(r)) reference = &r;
    const core::RunRecord* anyRun = run ? run : (reference ? reference : (runs.empty() ? nullptr : &runs.front()));

    std::size_t finished = 0, failed = 0;
    for (const auto& r : runs)
        (r.status == "finished" ? finished : failed)++;

    // Title and provenance line.
    b.out.html = QStringLiteral("<html><head><meta charset=\"utf-8\"><title>%1</title></head>"
                                "<body style=\"font-family: 'DejaVu Sans', sans-serif;\">")
                     .arg(b.out.title.toHtmlEscaped());
    b.raw(QStringLiteral("<h1>%1</h1>").arg(b.out.title.toHtmlEscaped()));
    b.raw(QStringLiteral("<p style=\"color: #444;\">Generated %1 by QuantScope %2 on %3 from <tt>%4</tt>: "
                                 "%5 runs (%6 finished, %7 failed).</p>")
                      .arg(QDateTime::currentDateTimeUtc().toString(Qt::ISODate), QStringLiteral(QS_VERSION),
                           QSysInfo::machineHostName().toHtmlEscaped(),
                           QString::fromStdString(projectPath.string()).toHtmlEscaped())
                      .arg(runs.size())
                      .arg(finished)
                      .arg(failed));

    // Model and data.
    b.section("model");
    b.heading(QStringLiteral("Model and data"));
    std::unique_ptr<core::Model> model;
    if (anyRun) {
        core::ModelRecord m;
        core::DatasetRecord d;
        try {
            m = project->model(anyRun->modelId);
            d = project->dataset(anyRun->datasetId);
        } catch (const std::exception& e) {
            b.note(QStringLiteral("Model or dataset record missing: %1").arg(e.what()));
        }
        std::vector<std::pair<QString, QString>> rows{
            {QStringLiteral("Model"), QStringLiteral("<tt>%1</tt>").arg(esc(m.path))},
            {QStringLiteral("Architecture"), esc(m.architecture)},
            {QStringLiteral("Parameters"), QLocale(QLocale::English).toString(static_cast<qlonglong>(m.parameters))},
            {QStringLiteral("Content hash"), QStringLiteral("<tt>%1</tt>").arg(esc(m.hash))},
            {QStringLiteral("Evaluation data"), QStringLiteral("<tt>%1</tt> (%2 tokens)").arg(esc(d.path)).arg(d.tokens)},
            {QStringLiteral("Evaluation settings"), esc(core::evalSettingsText(anyRun->evalSettings))}};
        if (reference)
            rows.push_back({QStringLiteral("fp32 perplexity"), num(reference->metrics.perplexity, 3)});
        try {
            if (!m.path.empty()) {
                model = core::openModel(m.path);
                const auto& c = model->config();
                rows.insert(rows.begin() + 2,
                            {QStringLiteral("Shape"),
                             QStringLiteral("%1 layers, hidden %2, %3 heads (%4 KV), MLP %5, vocabulary %6")
                                 .arg(c.numLayers)
                                 .arg(c.hiddenSize)
                                 .arg(c.numHeads)
                                 .arg(c.numKvHeads)
                                 .arg(c.intermediateSize)
                                 .arg(c.vocabSize)});
            }
        } catch (const std::exception& e) {
            b.out.notes << QStringLiteral("model not opened: %1").arg(e.what());
        }
        b.raw(facts(rows));
        if (!model) b.note(QStringLiteral("The model could not be opened at its recorded path, so the outlier "
                                          "section is left out."));
    } else {
        b.note(QStringLiteral("The project holds no runs yet: run a sweep first."));
    }

    // Pareto.
    b.section("pareto");
    b.heading(QStringLiteral("Size against quality (Pareto front)"));
    const auto pareto = views::buildParetoData(runs, "bits_per_weight", "perplexity",
                                               views::ParetoGroup::Method);
    b.para(QStringLiteral("Each point is one recipe: bits per weight (scales included) against perplexity on the "
                          "evaluation data. A run is on the <b>Pareto front</b> (black step line) when no other run is "
                          "both smaller and better; every run above the line is beaten by one on it. The dashed line is "
                          "the unquantized fp32 model. %1 of %2 quantized runs are on the front.")
               .arg(pareto.front.size())
               .arg([&] {
                   std::size_t n = 0;
                   for (const auto& s : pareto.series) n += s.points.size();
                   return n;
               }()));
    const QString per = options.paretoByFormat ? QStringLiteral("format") : QStringLiteral("method");
    b.image(QStringLiteral("pareto.png"),
            renderPareto(runs, b.out.runId, options.paretoByFormat ? views::ParetoGroup::Format : views::ParetoGroup::Method),
            run ? QStringLiteral("Runs per %1; the chosen run (%2) is ringed in red.").arg(per, esc(run->recipeLabel))
                : QStringLiteral("Runs per %1.").arg(per));

    // Method comparison: each method's own pick by the same rule as the chosen run.
    b.section("methods");
    b.heading(QStringLiteral("Method comparison"));
    std::map<std::string, std::vector<core::RunRecord>> byMethod;
    for (const auto& r : runs)
        if (r.status == "finished" && !views::isReferenceRun(r)) byMethod[methodOfRecipe(r)].push_back(r);
    if (byMethod.empty()) {
        b.note(QStringLiteral("No finished quantized run."));
    } else {
        b.para(QStringLiteral("For each method, its smallest run whose perplexity stays within 5% of fp32 "
                              "(or its best run when none does). Δppl is the perplexity increase over fp32, KLD the "
                              "mean KL divergence of the next-token distribution to fp32, top-1 the share of tokens "
                              "whose most likely next token is unchanged."));
        Table t({QStringLiteral("method"), QStringLiteral("run"), QStringLiteral("recipe"), QStringLiteral("bits/w"),
                 QStringLiteral("ppl"), QStringLiteral("Δppl"), QStringLiteral("KLD"), QStringLiteral("top-1")},
                QStringLiteral("lrlrrrrr"));
        for (const auto& [method, list] : byMethod) {
            std::vector<core::RunRecord> withReference = list;
            if (reference) withReference.push_back(*reference); // the baseline of the 5% rule
            const std::int64_t pick = views::defaultReportRun(withReference);
            for (const auto& r : list)
                if (r.id == pick) {
                    const auto& m = r.metrics;
                    t.row({QStringLiteral("<b>%1</b>").arg(esc(method)), QString::number(r.id), esc(r.recipeLabel),
                           num(m.bitsPerWeight, 3), num(m.perplexity, 3),
                           num(views::axisValue(r, "delta_perplexity"), 3, true), sig(m.kldMean),
                           pct(m.top1Agreement)},
                          r.id == b.out.runId);
                }
        }
        b.raw(t.html());
    }

    // What the runs cost on accelerator models (docs/cost-models.md).
    b.section("cost");
    b.heading(QStringLiteral("Hardware cost"));
    {
        Table t({QStringLiteral("design"), QStringLiteral("mode"), QStringLiteral("run"), QStringLiteral("recipe"),
                 QStringLiteral("speedup"), QStringLiteral("ideal"), QStringLiteral("energy eff."),
                 QStringLiteral("unpriced")},
                QStringLiteral("llrlrrrr"));
        int priced = 0;
        for (const core::AnalysisRecord& a : project->analyses()) {
            if (a.kind != "cost") continue;
            const nlohmann::json s = nlohmann::json::parse(a.summary, nullptr, false);
            const nlohmann::json settings = nlohmann::json::parse(a.settings, nullptr, false);
            if (!s.is_object() || !s.contains("total") || !settings.is_object()) continue;
            const nlohmann::json& total = s["total"];
            const std::int64_t run = settings.value("run", std::int64_t{0});
            t.row({esc(s.value("cost_model", "")), esc(s.value("mode", "")), run ? QString::number(run) : QStringLiteral("—"),
                   esc(s.value("label", "")), QString::number(total.value("speedup", 0.0), 'f', 2),
                   QString::number(total.value("potential_speedup", 0.0), 'f', 2),
                   QString::number(total.value("energy_efficiency", 0.0), 'f', 2),
                   QString::number(total.value("unpriced_layers", 0))},
                  run && run == b.out.runId);
            ++priced;
        }
        if (priced == 0) {
            b.note(QStringLiteral("No run has been priced on an accelerator model yet (<tt>quantscope-cli cost --run ID "
                                  "--project P --model loom --calib FILE</tt>, or Hardware cost ▸ Price all runs)."));
        } else {
            b.para(QStringLiteral("Each pricing quantizes the run's recipe, captures its layers' input codes on "
                                  "calibration data and prices every layer on the design: speedup over the design's "
                                  "baseline (a ratio of summed cycles), the ideal speedup of its value reduction, and "
                                  "the energy efficiency of our event model (docs/cost-models.md)."));
            b.raw(t.html());
            // Quality against each priced design's cycles: the size-quality front's runs on the hardware.
            bool accuracy = false;
            for (const auto& r : runs) accuracy |= r.metrics.accuracy.has_value();
            const std::string y = accuracy ? "accuracy" : "perplexity";
            for (const std::string& model : core::pricedCostModels(*project)) {
                views::RunCosts costs;
                for (const core::CostPoint& p : core::storedCostPoints(*project, model))
                    if (p.speedup > 0) costs[views::cyclesAxisKey(model)][p.runId] = 1.0 / p.speedup;
                b.image(QStringLiteral("cost-%1.png").arg(QString::fromStdString(model)),
                        renderCostPareto(runs, b.out.runId, views::cyclesAxisKey(model), y, costs),
                        QStringLiteral("%1 against the cycles on %2 relative to its baseline (1 / speedup), per format; "
                                       "the runs priced there and their front.")
                            .arg(accuracy ? QStringLiteral("Accuracy") : QStringLiteral("Perplexity"),
                                 esc(model)));
            }
        }
    }

    // Why the quality is what it is: the stored landscape, prediction, misalignment and span analyses.
    b.section("landscape");
    b.heading(QStringLiteral("Why it is as good as it is"));
    {
        auto value = [](const nlohmann::json& j, const char* key, int digits) {
            return j.contains(key) && j[key].is_number() ? QString::number(j[key].get<double>(), 'g', digits)
                                                         : QStringLiteral("—");
        };
        Table landscape({QStringLiteral("#"), QStringLiteral("direction"), QStringLiteral("loss at W"), QStringLiteral("g·v"),
                         QStringLiteral("vᵀHv"), QStringLiteral("sharpness"), QStringLiteral("basin radius"),
                         QStringLiteral("L(t = 1)")},
                        QStringLiteral("rlrrrrrr"));
        Table predict({QStringLiteral("#"), QStringLiteral("target"), QStringLiteral("runs"), QStringLiteral("forest LOO MAE"),
                       QStringLiteral("linear LOO MAE"), QStringLiteral("mean LOO MAE"), QStringLiteral("forest LOFO MAE"),
                       QStringLiteral("best predicted")},
                      QStringLiteral("rlrrrrrl"));
        Table misalignment({QStringLiteral("#"), QStringLiteral("weight"), QStringLiteral("format"),
                            QStringLiteral("Spearman(local, Δloss)"), QStringLiteral("misranked pairs")},
                           QStringLiteral("rllrr"));
        Table spans({QStringLiteral("#"), QStringLiteral("mass"), QStringLiteral("ppl masked"), QStringLiteral("ppl full"),
                     QStringLiteral("KL"), QStringLiteral("work saved"), QStringLiteral("KV kept")},
                    QStringLiteral("rrrrrrr"));
        int count = 0;
        nlohmann::json newestLandscape, newestMisalignment; // drawn as figures under the tables
        std::int64_t newestPredict = 0, newestSpans = 0;     // their rows and arrays are opened for figures
        for (const core::AnalysisRecord& a : project->analyses()) {
            const nlohmann::json s = nlohmann::json::parse(a.summary, nullptr, false);
            if (!s.is_object()) continue;
            const QString id = QString::number(a.id);
            if (a.kind == "landscape") newestLandscape = s;
            if (a.kind == "misalignment") newestMisalignment = s;
            if (a.kind == "predict") newestPredict = a.id;
            if (a.kind == "spans") newestSpans = a.id;
            if (a.kind == "landscape") {
                for (const auto& d : s.value("directions", nlohmann::json::array()))
                    landscape.row({id, esc(d.value("source", "")).left(60), value(s, "loss", 6), value(d, "dir_deriv", 4),
                                   value(d, "curvature", 4), value(d, "sharpness", 4), value(d, "basin_radius", 3),
                                   d.contains("slice") ? value(d["slice"], "1", 6) : QStringLiteral("—")});
            } else if (a.kind == "predict") {
                const auto& l = s.value("learners", nlohmann::json::object());
                const auto& p = s.value("predictions", nlohmann::json::array());
                predict.row({id, esc(s.value("target", "")), QString::number(s.value("training_runs", 0)),
                             l.contains("forest") ? value(l["forest"]["loo"], "mae", 4) : QStringLiteral("—"),
                             l.contains("linear") ? value(l["linear"]["loo"], "mae", 4) : QStringLiteral("—"),
                             value(s, "baseline_error", 4), value(s, "lofo_error", 4),
                             p.empty() ? QStringLiteral("—") : esc(p[0].value("label", ""))});
            } else if (a.kind == "misalignment") {
                const nlohmann::json perFormat = s.value("per_format", nlohmann::json::object()); // items() needs it alive
                for (const auto& [format, c] : perFormat.items())
                    misalignment.row({id, QStringLiteral("<tt>%1</tt>").arg(esc(s.value("layer", ""))), esc(format),
                                      value(c, "spearman_delta_loss", 3), value(c, "misranking_delta_loss", 3)});
            } else if (a.kind == "spans") {
                spans.row({id, value(s, "mass", 4), value(s, "perplexity", 6), value(s, "reference_perplexity", 6),
                           value(s, "kld", 3), value(s, "attention_work_saved", 3), value(s, "kv_kept_fraction", 3)});
            } else {
                continue;
            }
            ++count;
        }
        if (count == 0)
            b.note(QStringLiteral("No landscape, prediction, misalignment or attention-span analysis is stored yet "
                                  "(<tt>quantscope-cli landscape|predict|misalignment|spans ... --project P</tt>, or the "
                                  "Analyze menu)."));
        for (const auto& [table, title, text] :
             {std::tuple{&landscape, QStringLiteral("Loss landscape"),
                         QStringLiteral("The loss along each direction v around the weights W: slope g·v and exact curvature "
                                        "vᵀHv at W, sharpness vᵀHv/|v|², the first t where the loss rose by the basin's "
                                        "delta, and L at t = 1 (a recipe's quantized model).")},
              std::tuple{&predict, QStringLiteral("Predicted quality"),
                         QStringLiteral("Learners fitted on the evaluated runs; leave-one-out (LOO) and leave-one-format-out "
                                        "(LOFO) mean absolute errors beside predicting the mean.")},
              std::tuple{&misalignment, QStringLiteral("Local against global objective"),
                         QStringLiteral("Rank agreement between the layer-local objective and the global change of loss "
                                        "over one weight's candidate quantizations, per format.")},
              std::tuple{&spans, QStringLiteral("Attention spans"),
                         QStringLiteral("Attention masked to per-head spans holding the given share of attention mass.")}})
            if (!table->empty()) {
                b.raw(QStringLiteral("<h3>%1</h3>").arg(title));
                b.para(text);
                b.raw(table->html());
                if (table == &landscape && newestLandscape.is_object())
                    b.image(QStringLiteral("landscape.png"), renderLandscapeSlices(newestLandscape),
                            QStringLiteral("The loss along each direction of the newest landscape analysis; the star is "
                                           "the quantized model (t = 1 of a recipe's direction)."));
                if (table == &misalignment && newestMisalignment.is_object())
                    b.image(QStringLiteral("misalignment.png"), renderMisalignment(newestMisalignment),
                            QStringLiteral("Each candidate quantization of %1: its layer-local objective against the "
                                           "change of loss, one colour per format (the newest misalignment analysis).")
                                .arg(esc(newestMisalignment.value("layer", ""))));
                try {
                    if (table == &predict && newestPredict)
                        b.image(QStringLiteral("prediction.png"),
                                renderPrediction(core::openAnalysis(*project, newestPredict).output),
                                QStringLiteral("Each evaluated run's measured quality (x) against its leave-one-out "
                                               "prediction by the forest (y); the dashed line is y = x."));
                    if (table == &spans && newestSpans) {
                        const core::AnalysisOutcome o = core::openAnalysis(*project, newestSpans);
                        if (o.output.arrays.count("span"))
                            b.image(QStringLiteral("spans.png"),
                                    renderSpans(o.output.arrays.at("span"), o.output.summary.value("ctx", 1)),
                                    QStringLiteral("Each head's span (keys) by decoder layer, the newest span analysis."));
                    }
                } catch (const std::exception& e) {
                    b.note(QStringLiteral("A figure could not be drawn: %1").arg(esc(e.what())));
                }
            }
    }

    // The chosen run.
    b.section("run");
    b.heading(run ? QStringLiteral("Chosen run: %1").arg(QString::fromStdString(run->recipeLabel))
                  : QStringLiteral("Chosen run"),
              true);
    std::vector<core::LayerResultRecord> layers;
    if (!run) {
        b.note(QStringLiteral("No run to show."));
    } else {
        b.para(runId ? QStringLiteral("Run %1, chosen %2.").arg(run->id).arg(chosenBy.toHtmlEscaped())
                     : QStringLiteral("Run %1: on the Pareto front, the run with the fewest bits per weight whose "
                                      "perplexity is within 5% of fp32 (or the best run on the front when none is).")
                           .arg(run->id));
        const auto& m = run->metrics;
        b.raw(facts({{QStringLiteral("Status"), esc(run->status) + (run->error.empty() ? QString() : QStringLiteral(": ") + esc(run->error))},
                             {QStringLiteral("Bits per weight"), num(m.bitsPerWeight, 3)},
                             {QStringLiteral("Model size"), m.modelBytes ? num(*m.modelBytes / 1e6, 2) + QStringLiteral(" MB") : QStringLiteral("—")},
                             {QStringLiteral("Perplexity"), QStringLiteral("%1 (fp32 %2, Δ %3)").arg(num(m.perplexity, 3), num(m.referencePerplexity, 3), num(views::axisValue(*run, "delta_perplexity"), 3, true))},
                             {QStringLiteral("KL divergence"), QStringLiteral("mean %1, p99 %2").arg(sig(m.kldMean), sig(m.kldP99))},
                             {QStringLiteral("Top-1 agreement"), pct(m.top1Agreement)},
                             {QStringLiteral("Wall time"), QStringLiteral("%1 s").arg(run->seconds, 0, 'f', 1)}}));
        const auto recipe = nlohmann::json::parse(run->recipe, nullptr, false);
        b.raw(QStringLiteral("<h3>Recipe</h3><pre style=\"background-color: #f4f4f4;\">%1</pre>")
                          .arg(esc(recipe.is_discarded() ? run->recipe : recipe.dump(2))));
        layers = project->layers(run->id);
        b.raw(QStringLiteral("<h3>Per-layer error</h3>"));
        if (layers.empty()) {
            b.note(QStringLiteral("This run stores no per-layer results."));
        } else {
            Table t({QStringLiteral("layer"), QStringLiteral("shape"), QStringLiteral("bits/w"), QStringLiteral("MSE"),
                     QStringLiteral("SQNR dB"), QStringLiteral("max |err|")},
                    QStringLiteral("lrrrrr"));
            double worst = std::numeric_limits<double>::infinity();
            for (const auto& l : layers)
                if (l.sqnrDb) worst = std::min(worst, *l.sqnrDb);
            for (const auto& l : layers)
                t.row({QStringLiteral("<tt>%1</tt>").arg(esc(l.name)), QStringLiteral("%1×%2").arg(l.rows).arg(l.cols),
                       num(l.bitsPerWeight, 3), QString::number(l.mse, 'e', 2),
                       l.sqnrDb ? num(l.sqnrDb, 2) : QStringLiteral("∞"), QString::number(l.maxAbsError, 'g', 3)},
                      l.sqnrDb && *l.sqnrDb == worst);
            b.raw(t.html());
            b.para(QStringLiteral("<span style=\"font-size: small;\">SQNR = 10·log10(Σw² / Σ(w−q)²); every 6 dB is "
                                  "about one bit of precision. The highlighted row is the layer with the lowest "
                                  "SQNR.</span>"));
        }
    }

    // Outliers (the costliest section: computed only when asked for).
    if (b.section("outliers") && model) {
        b.heading(QStringLiteral("Outliers"), true);
        const auto reports = core::inspectModel(*model, {});
        std::map<std::string, double> sqnr;
        for (const auto& l : layers)
            if (l.sqnrDb) sqnr[l.name] = *l.sqnrDb;
        std::vector<LayerBar> bars;
        const core::LayerReport* peak = nullptr;
        for (const auto& r : reports) {
            if (!r.info.quantizable) continue;
            QString name = QString::fromStdString(r.info.name);
            name.remove(QStringLiteral("model.")).remove(QStringLiteral(".weight"));
            name.replace(QStringLiteral("layers."), QString());
            LayerBar bar{name, r.stats.kurtosis, std::nullopt};
            if (const auto it = sqnr.find(r.info.name); it != sqnr.end()) bar.sqnrDb = it->second;
            bars.push_back(bar);
            if (!peak || r.stats.kurtosis > peak->stats.kurtosis) peak = &r;
        }
        b.para(QStringLiteral("Kurtosis measures how heavy a weight distribution's tails are (3 for a Gaussian). "
                              "Heavy tails mean a few large weights stretch the quantization range, so the many "
                              "small weights get few levels: layers with high kurtosis tend to have lower SQNR."));
        b.image(QStringLiteral("kurtosis.png"), renderKurtosis(bars, run ? QString::fromStdString(run->recipeLabel) : QString()),
                QStringLiteral("Kurtosis of each quantized layer's weights (bars) and the chosen run's SQNR (line)."));
        if (peak) {
            const auto w = model->weightAsOutIn(peak->info);
            const auto stats = views::weightChannelStats(w.data(), peak->info.matrixRows(), peak->info.matrixCols());
            const QString name = QString::fromStdString(peak->info.name);
            b.image(QStringLiteral("channels.png"),
                    renderChannels(stats.outAbsMax, QStringLiteral("max |w| per output channel"),
                                   QStringLiteral("output channel of %1").arg(name)),
                    QStringLiteral("Per-output-channel max |w| of <tt>%1</tt>, the layer with the highest kurtosis; "
                                   "the largest channel is %2× the median. Per-channel scales give each row its own "
                                   "range, so row outliers cost little; a per-tensor scale pays for the largest row "
                                   "everywhere.")
                        .arg(name.toHtmlEscaped())
                        .arg(stats.outBands.p50 > 0 ? stats.outBands.p100 / stats.outBands.p50 : 0, 0, 'f', 1));
        }
        activationSection(b, *model, run ? *run : *anyRun);
    }

    // Every run.
    b.section("runs");
    b.heading(QStringLiteral("All runs"));
    {
        // Every run metric some run has (core/store/run_metrics.h), in the table's order.
        std::vector<const core::RunMetric*> metrics;
        for (const auto& m : core::runMetricTable())
            if (m.role != core::MetricRole::Reference &&
                std::any_of(runs.begin(), runs.end(), [&](const core::RunRecord& r) { return core::metricValue(m, r.metrics).has_value(); }))
                metrics.push_back(&m);
        QStringList header{QStringLiteral("id"), QStringLiteral("recipe"), QStringLiteral("status")};
        for (const auto* m : metrics) header << QString::fromUtf8(m->shortLabel.data(), static_cast<qsizetype>(m->shortLabel.size()));
        header << QStringLiteral("s");
        Table t(header, QStringLiteral("rll") + QString(static_cast<qsizetype>(metrics.size()) + 1, QLatin1Char('r')));
        std::set<std::int64_t> onFront;
        for (const auto& p : pareto.front) onFront.insert(p.runId);
        for (const auto& r : runs) {
            QStringList cells{QString::number(r.id), esc(r.recipeLabel) + (onFront.count(r.id) ? QStringLiteral(" ★") : QString()),
                              esc(r.status)};
            for (const auto* m : metrics) cells << QString::fromStdString(core::formatMetric(*m, core::metricValue(*m, r.metrics)));
            cells << QString::number(r.seconds, 'f', 1);
            t.row(cells, r.id == b.out.runId);
        }
        b.raw(t.html());
        b.para(QStringLiteral("<span style=\"font-size: small;\">★ on the Pareto front; highlighted: the chosen run."
                              "</span>"));
    }

    // Provenance of the runs.
    b.section("provenance");
    b.heading(QStringLiteral("Provenance"));
    std::set<std::int64_t> provenanceIds;
    for (const auto& r : runs)
        if (r.provenanceId) provenanceIds.insert(r.provenanceId);
    if (provenanceIds.empty()) {
        b.note(QStringLiteral("No provenance recorded."));
    } else {
        Table t({QStringLiteral("date"), QStringLiteral("program"), QStringLiteral("host"), QStringLiteral("command")},
                QStringLiteral("lllw"));
        for (const auto id : provenanceIds) {
            try {
                const auto p = project->provenance(id);
                t.row({esc(p.date), esc(p.programVersion), esc(p.host),
                       QStringLiteral("<tt>%1</tt>").arg(esc(p.commandLine))});
            } catch (const std::exception&) {
            }
        }
        b.raw(t.html());
    }
    b.muted = false;
    b.raw(QStringLiteral("</body></html>"));
    return b.out;
}

} // namespace qs::report
