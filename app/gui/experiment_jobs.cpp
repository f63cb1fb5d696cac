// SPDX-License-Identifier: MIT
// ExperimentController's jobs: Run ▶, Evaluate and Sweep through the job service, and what they report.
#include "experiment_controller.h"

#include "data/calib_data.h"
#include "common/param_form.h"
#include "parameters_panel.h"
#include "quant/recipe.h"
#include "sweep_dialog.h"

#include <QFileInfo>
#include <QLabel>
#include <QMainWindow>
#include <filesystem>
#include <map>
#include <set>

namespace qs::gui {
namespace {

// The project setting that keeps the Sweep dialog's ticks.
const std::string kSweepTicksKey = "gui.sweep_ticks";

QString signedText(double v, int decimals) {
    return QString::asprintf("%+.*f", decimals, v);
}

QString optText(const std::optional<double>& v, int decimals) {
    return v ? QString::number(*v, 'f', decimals) : QStringLiteral("—");
}

QString fileName(const QString& path) {
    return QFileInfo(path).fileName();
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Evaluate

bool ExperimentController::runQuantization() {
    if (const auto no = refusal(Job::Run)) return refuse(no->why);
    const auto model = m_context->model();
    const std::optional<core::Recipe> recipe = m_panel->currentRecipe();
    const core::QuantJob job = recipe->job; // with the transform chosen, if any
    const bool calibrated = core::recipeNeedsCalibration(*recipe, m_context->registries());
    const std::string calibFile = calibrated ? calibrationData().toStdString() : std::string();
    const core::EvalOptions eval = m_panel->evalOptions();
    const long long calibWindows = m_panel->calibWindows();
    const QString what = QStringLiteral("%1 %2").arg(QString::fromStdString(job.method).toUpper(),
                                                     QString::fromStdString(job.spec.label()));
    plugins::ViewContext* context = m_context;
    plugins::JobService* jobs = m_jobs;
    const auto onEnd = [context, jobs, what](plugins::JobState state, const QString& seconds) {
        if (state != plugins::JobState::Succeeded) {
            context->setQuantResult(std::nullopt); // no half result stays on screen
            return;
        }
        if (const auto& r = context->quantResult())
            jobs->report(tr("%1: %2 layers in %3 s; %4 bits/weight over quantized layers, %5 over the model")
                             .arg(what)
                             .arg(r->layers.size())
                             .arg(seconds)
                             .arg(r->bitsPerWeight, 0, 'f', 3)
                             .arg(r->modelBitsPerWeight, 0, 'f', 3));
    };
    m_jobs->log(plugins::LogLevel::Info,
                tr("Quantizing %1 with %2").arg(fileName(QString::fromStdString(model->path().string())), what));
    const core::Registries& registries = m_context->registries();
    auto work = [model, &registries, job, context, calibFile, eval,
                 calibWindows](const core::JobContext& ctx) -> std::function<void()> {
        auto onLayer = [context](const core::LayerQuantResult& layer) {
            QMetaObject::invokeMethod(
                context, [context, layer] { context->addLayerResult(layer); }, Qt::QueuedConnection);
        };
        std::optional<core::CalibrationData> calib;
        if (!calibFile.empty()) calib = core::loadCalibrationData(calibFile, model->path(), eval.ctx, calibWindows);
        auto result = std::make_shared<core::ModelQuantResult>(
            core::quantizeModel(*model, registries, job, ctx, false, onLayer, calib ? &*calib : nullptr));
        return [context, result] { context->setQuantResult(std::move(*result)); };
    };
    m_context->beginQuantResult(job);
    if (m_jobs->start({what, QString::fromStdString(job.method).toUpper(), tr("layer"), work, onEnd})) return true;
    m_context->setQuantResult(std::nullopt);
    return false;
}

bool ExperimentController::evaluate() {
    if (const auto no = refusal(Job::Evaluate)) return refuse(no->why);
    const std::optional<core::Recipe> recipe = m_panel->currentRecipe();
    const core::Registries& registries = m_context->registries();

    core::RecipeRunTarget target = runTarget();
    target.commandLine = "quantscope (GUI) evaluate";
    // Calibration goes to the recipe only where it acts (a calibrated method or transform; a
    // classifier's static activation scales); the core decides, and keys the run by it.
    const core::RecipeCalibration calib{calibrationData().toStdString(), m_panel->calibWindows()};
    const std::shared_ptr<core::Project> project = ensureProject();
    if (!project)
        m_jobs->log(plugins::LogLevel::Warning, tr("No project could be opened: this result is kept for the "
                                                   "session only (File ▸ New Project… stores runs)"));

    m_lastEvaluation.reset();
    m_jobTarget = tr("Evaluate %1").arg(QString::fromStdString(recipe->label()));
    if (isClassifierOpen())
        m_jobs->log(plugins::LogLevel::Info, tr("%1 on %2 (labels %3)")
                                                 .arg(m_jobTarget, fileName(evaluationData()), fileName(labelsData())));
    else
        m_jobs->log(plugins::LogLevel::Info,
                    tr("%1 on %2 (ctx %3, %4)")
                        .arg(m_jobTarget, fileName(evaluationData()))
                        .arg(target.eval.ctx)
                        .arg(target.eval.maxWindows ? tr("%1 windows").arg(target.eval.maxWindows)
                                                    : tr("all windows")));
    auto work = [this, target, recipe = *recipe, calib, project,
                 &registries](const core::JobContext& ctx) -> std::function<void()> {
        auto out = std::make_shared<core::RecipeRunOutcome>(
            core::evaluateRecipe(target, recipe, calib, registries, project.get(), ctx));
        return [this, out, stored = project != nullptr] {
            m_lastEvaluation = *out;
            if (!stored) m_sessionRuns.push_back(*out);
        };
    };
    return m_jobs->start({m_jobTarget, tr("Evaluate"), tr("step"), work,
                          [this](plugins::JobState state, const QString& seconds) { reportEvaluation(state, seconds); }});
}

void ExperimentController::updateEvaluationLabel() {
    if (!m_evalLabel) return;
    if (!m_lastEvaluation) {
        m_evalLabel->clear();
        return;
    }
    const core::RecipeRunOutcome& e = *m_lastEvaluation;
    const auto& m = e.metrics;
    m_evalLabel->setToolTip(QString::fromStdString(e.label));
    if (m.accuracy) {
        m_evalLabel->setText(
            tr("accuracy %1% (fp32 %2%) · agreement %3% · %4 b/w")
                .arg(*m.accuracy * 100, 0, 'f', 2)
                .arg(e.referenceAccuracy ? QString::number(*e.referenceAccuracy * 100, 'f', 2)
                                         : QStringLiteral("—"))
                .arg(m.top1Agreement ? QString::number(*m.top1Agreement * 100, 'f', 2) : QStringLiteral("—"),
                     optText(m.bitsPerWeight, 3)));
        return;
    }
    m_evalLabel->setText(
        tr("ppl %1 (fp32 %2, Δ %3) · KLD %4 · top-1 %5% · %6 b/w")
            .arg(optText(m.perplexity, 3), optText(m.referencePerplexity, 3))
            .arg(signedText(e.deltaPerplexity(), 3))
            .arg(optText(m.kldMean, 5))
            .arg(m.top1Agreement ? QString::number(*m.top1Agreement * 100, 'f', 1) : QStringLiteral("—"),
                 optText(m.bitsPerWeight, 3)));
}

// ---------------------------------------------------------------------------------------------
// Sweep

SweepSelection ExperimentController::currentSweepSelection() const {
    SweepSelection s;
    s.methods << m_panel->method();
    s.transforms << m_panel->transform();
    s.transformParams = m_panel->transformForm()->values();
    s.layerRules = m_context->layerRules();
    const nlohmann::json v = m_panel->specForm()->values();
    s.formats << QString::fromStdString(v.value("format", "int4"));
    s.granularities << QString::fromStdString(v.value("granularity", "group"));
    s.groups << v.value("group", 128);
    s.sym = v.value("sym", true);
    s.asym = !s.sym;
    s.calib = calibrationData();
    s.calibWindows = m_panel->calibWindows();
    return s;
}

int ExperimentController::countExistingRuns(const std::vector<core::SweepPoint>& points) const {
    const auto& model = m_context->model();
    if (!m_project || !model || evaluationData().isEmpty()) return 0;
    // Matched by path (what the store recorded) rather than content hash: hashing a large model would
    // block the GUI; the sweep itself re-checks by hash and skips exactly.
    const std::string modelPath = std::filesystem::absolute(model->path()).lexically_normal().string();
    const std::string dataPath =
        std::filesystem::absolute(evaluationData().toStdString()).lexically_normal().string();
    std::set<std::string> have;
    try {
        std::map<std::int64_t, bool> modelOk, dataOk;
        for (const auto& r : m_project->runs()) {
            if (r.status != "finished") continue;
            if (!modelOk.count(r.modelId)) modelOk[r.modelId] = m_project->model(r.modelId).path == modelPath;
            if (!dataOk.count(r.datasetId))
                dataOk[r.datasetId] = m_project->dataset(r.datasetId).path == dataPath;
            if (modelOk[r.modelId] && dataOk[r.datasetId]) have.insert(r.evalSettings + '\n' + r.recipe);
        }
    } catch (const std::exception&) {
        return 0; // a busy or damaged project: the count is only a hint
    }
    const core::RecipeRunTarget target = runTarget();
    std::set<std::string> counted;
    for (const auto& p : points)
        if (p.recipe) {
            const std::string key =
                core::recipeRunSettingsKey(target, *p.recipe, {p.calib, p.calibWindows}, m_context->registries()) +
                '\n' + p.recipe->canonical();
            if (have.count(key)) counted.insert(key);
        }
    return static_cast<int>(counted.size());
}

SweepSelection ExperimentController::sweepDialogStart() const {
    const SweepSelection current = currentSweepSelection();
    std::string saved = m_sessionTicks;
    try {
        if (m_project) saved = m_project->setting(kSweepTicksKey).value_or(std::string());
    } catch (const std::exception&) {
        // a busy or damaged project: start from the panel
    }
    if (saved.empty()) return current;
    return withSweepTicks(current, nlohmann::json::parse(saved, nullptr, false));
}

void ExperimentController::rememberSweepTicks(const SweepSelection& selection) {
    // Kept in the project, so the ticks travel with it; without one, for the session.
    m_sessionTicks = sweepTicksJson(selection).dump();
    try {
        if (m_project) m_project->setSetting(kSweepTicksKey, m_sessionTicks);
    } catch (const std::exception& e) {
        m_jobs->log(plugins::LogLevel::Warning, tr("Sweep ticks not kept: %1").arg(QString::fromStdString(e.what())));
    }
}

void ExperimentController::showSweepDialog() {
    SweepDialog dialog(m_context->registries(), m_window);
    dialog.setSelection(sweepDialogStart());
    const auto no = refusal(Job::Sweep);
    dialog.setProjectInfo([this](const std::vector<core::SweepPoint>& p) { return countExistingRuns(p); },
                          no ? no->why : QString());
    dialog.predictions()->setPredictor(sweepPredictor());
    const bool accepted = dialog.exec() == QDialog::Accepted;
    rememberSweepTicks(dialog.selection());
    if (accepted) runSweep(dialog.grid(), dialog.predictions()->order(), dialog.predictions()->predictions());
}

SweepPredictor ExperimentController::sweepPredictor() {
    SweepPredictor p;
    if (!m_project || !m_context->model())
        p.unavailable = tr("Predictions learn from the project's evaluated runs: open a project and sweep first.");
    else if (evaluationData().isEmpty())
        p.unavailable = tr("Predictions read the evaluation data (toolbar ▸ Data ▸ Evaluation data…).");
    p.cancel = [jobs = m_jobs] { jobs->cancel(); };
    p.start = [this](const nlohmann::json& grid, SweepPredictor::Done done) -> QString {
        if (m_jobs->isRunning()) return tr("Another job is running (Jobs dock).");
        if (!m_project || !m_context->model()) return tr("Open a project first.");
        const std::shared_ptr<core::Project> project = m_project;
        const std::string model = m_context->model()->path().string(), data = evaluationData().toStdString();
        const core::Registries& registries = m_context->registries();
        auto work = [project, model, data, grid, done, &registries](const core::JobContext& ctx) -> std::function<void()> {
            core::AnalysisRequest request;
            request.ctx = 128; // as the Prediction view's panel
            request.windows = 2;
            core::fillPredictRequest(request, *project, registries, model, &grid, data);
            request.commandLine = "quantscope (GUI) Sweep ▸ Predict quality";
            auto out = std::make_shared<core::AnalysisOutcome>(core::runAnalysis(request, registries, project.get(), ctx));
            return [out, done] { done(out->output.summary.value("predictions", nlohmann::json::array()), QString()); };
        };
        auto onEnd = [done, jobs = m_jobs](plugins::JobState state, const QString&) {
            if (state == plugins::JobState::Succeeded) return;
            done(nlohmann::json(), state == plugins::JobState::Cancelled ? tr("Prediction cancelled.") : jobs->error());
        };
        if (!m_jobs->start({tr("Predict the sweep"), tr("Predict"), tr("step"), work, onEnd}))
            return tr("Another job is running (Jobs dock).");
        return QString();
    };
    return p;
}

bool ExperimentController::runSweep(const nlohmann::json& grid, core::SweepOrder order, const nlohmann::json& predictions) {
    if (const auto no = refusal(Job::Sweep)) return refuse(no->why);
    const core::Registries& registries = m_context->registries();
    std::vector<core::SweepPoint> points;
    try {
        points = core::orderSweepPoints(core::expandGrid(grid, registries), predictions, order, registries);
    } catch (const std::exception& e) {
        return refuse(QString::fromStdString(e.what()));
    }
    core::SweepOptions options;
    options.model = m_context->model()->path();
    options.data = evaluationData().toStdString();
    if (isClassifierOpen()) options.labels = labelsData().toStdString();
    options.eval = m_panel->evalOptions();
    options.jobs = 1; // one recipe at a time, each using every thread (the machine is shared)
    options.commandLine = "quantscope (GUI) sweep --grid '" + grid.dump() + "'" +
                          (order == core::SweepOrder::Promising   ? " (most promising first)"
                           : order == core::SweepOrder::Uncertain ? " (most uncertain first)"
                                                                  : "");
    const std::shared_ptr<core::Project> project = ensureProject();
    if (!project)
        return refuse(tr("A sweep stores its runs in a project, and none could be opened: File ▸ New Project…"));
    plugins::ViewContext* context = m_context;

    m_lastSweep.reset();
    m_jobTarget = tr("Sweep of %n point(s)", nullptr, static_cast<int>(points.size()));
    m_jobs->log(plugins::LogLevel::Info,
              tr("%1 into %2: %3")
                  .arg(m_jobTarget, QString::fromStdString(project->path().filename().string()),
                       QString::fromStdString(grid.dump())));
    auto work = [this, points, options, project, context,
                 &registries](const core::JobContext& ctx) -> std::function<void()> {
        // Each progress step follows a stored run: let the Runs view show it at once.
        const core::JobContext inner{[&ctx, context](long long d, long long t, const std::string& m) {
                                         if (ctx.progress) ctx.progress(d, t, m);
                                         QMetaObject::invokeMethod(
                                             context, [context] { context->notifyProjectRunsChanged(); },
                                             Qt::QueuedConnection);
                                     },
                                     ctx.cancel};
        auto summary =
            std::make_shared<core::SweepSummary>(core::runSweep(*project, points, options, registries, inner));
        return [this, summary] { m_lastSweep = *summary; };
    };
    return m_jobs->start({m_jobTarget, tr("Sweep"), tr("run"), work,
                          [this](plugins::JobState state, const QString& seconds) { reportSweep(state, seconds); }});
}

// ---------------------------------------------------------------------------------------------
// Job results

void ExperimentController::reportEvaluation(plugins::JobState state, const QString& seconds) {
    if (state == plugins::JobState::Succeeded && m_lastEvaluation) {
        const core::RecipeRunOutcome& e = *m_lastEvaluation;
        const auto& m = e.metrics;
        QString where;
        if (e.runId && e.reused)
            where = tr("already in the project as run #%1 (not recomputed)").arg(e.runId);
        else if (e.runId)
            where = tr("stored as run #%1 (fp32 run #%2)").arg(e.runId).arg(e.referenceRunId);
        else
            where = tr("session only (no project)");
        const QString top1 =
            m.top1Agreement ? QString::number(*m.top1Agreement * 100, 'f', 2) : QStringLiteral("—");
        if (m.accuracy) {
            const QString acc = QString::number(*m.accuracy * 100, 'f', 2);
            m_jobs->report(
                      tr("%1: accuracy %2% (fp32 %3%), argmax agreement %4%, %5 bits/weight — %6 (%7 s)")
                          .arg(m_jobTarget, acc,
                               e.referenceAccuracy ? QString::number(*e.referenceAccuracy * 100, 'f', 2)
                                                   : QStringLiteral("—"),
                               top1, optText(m.bitsPerWeight, 3), where, seconds));
        } else {
            m_jobs->report(
                tr("%1: ppl %2 (fp32 %3, Δ %4), KLD mean %5 p99 %6, top-1 %7%, %8 bits/weight — %9 (%10 s)")
                    .arg(m_jobTarget, optText(m.perplexity, 4), optText(m.referencePerplexity, 4))
                    .arg(signedText(e.deltaPerplexity(), 4))
                    .arg(optText(m.kldMean, 5), optText(m.kldP99, 5), top1, optText(m.bitsPerWeight, 3),
                         where, seconds));
        }
        updateEvaluationLabel();
        if (e.runId) {
            m_context->notifyProjectRunsChanged();
            m_context->setSelectedRunId(e.runId);
        }
    }
}

void ExperimentController::reportSweep(plugins::JobState state, const QString& seconds) {
    m_context->notifyProjectRunsChanged(); // runs stored up to a cancel stay
    if (state == plugins::JobState::Succeeded && m_lastSweep) {
        const nlohmann::json j = m_lastSweep->toJson();
        const QString counts = tr("%1 done, %2 already in the project, %3 failed, %4 invalid, %5 duplicate")
                                   .arg(j.value("done", 0))
                                   .arg(j.value("skipped", 0))
                                   .arg(j.value("failed", 0))
                                   .arg(j.value("invalid", 0))
                                   .arg(j.value("duplicate", 0));
        m_jobs->report(tr("%1 finished in %2 s: %3; fp32 ppl %4 (run #%5)")
                                      .arg(m_jobTarget, seconds, counts)
                                      .arg(m_lastSweep->referencePerplexity, 0, 'f', 4)
                                      .arg(m_lastSweep->referenceRunId));
        // One line per distinct reason, not one per point: "invalid ×12: <why> (mxfp4 asym …, …)".
        std::map<std::pair<std::string, std::string>, QStringList> why;
        for (const auto& o : m_lastSweep->outcomes)
            if (o.status == "failed" || o.status == "invalid")
                why[{o.status, o.message}] << QString::fromStdString(o.label.empty() ? o.recipe.dump() : o.label);
        for (const auto& [key, labels] : why) {
            const QStringList shown = labels.mid(0, 3);
            m_jobs->log(plugins::LogLevel::Warning,
                        tr("%1 ×%2: %3 (%4%5)")
                            .arg(QString::fromStdString(key.first))
                            .arg(labels.size())
                            .arg(QString::fromStdString(key.second), shown.join(QStringLiteral("; ")),
                                 labels.size() > shown.size() ? tr("; …") : QString()));
        }
    }
}

} // namespace qs::gui
