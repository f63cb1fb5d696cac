// SPDX-License-Identifier: MIT
// MainWindow's experiment workflow: projects, evaluation / calibration data, Evaluate, Sweep…, report.
#include "quant/recipe.h"
#include "main_window.h"
#include "store/stored_result.h"
#include "param_form.h"
#include "quant/quant_spec.h"
#include "report.h"
#include "sweep_dialog.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QCryptographicHash>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <QVBoxLayout>
#include <filesystem>
#include <map>
#include <set>

namespace qs::gui {
namespace {

const QString kLastProjectKey = QStringLiteral("lastProject");
const QString kLastProjectDirKey = QStringLiteral("lastProjectDir");
const QString kLastDataDirKey = QStringLiteral("lastDataDir");

// Per-model QSettings key: the model path's hash keeps slashes out of the key.
QString modelDataKey(const QString& modelPath, const char* what) {
    return QStringLiteral("modelData/%1/%2")
        .arg(QString::fromLatin1(
                 QCryptographicHash::hash(modelPath.toUtf8(), QCryptographicHash::Md5).toHex()),
             QLatin1String(what));
}

QString fileName(const QString& path) {
    return QFileInfo(path).fileName();
}

QString signedText(double v, int decimals) {
    return QString::asprintf("%+.*f", decimals, v);
}

QString optText(const std::optional<double>& v, int decimals) {
    return v ? QString::number(*v, 'f', decimals) : QStringLiteral("—");
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Construction

void MainWindow::createExperimentActions(QMenu* file) {
    QAction* newProject = file->addAction(tr("&New Project…"));
    newProject->setObjectName(QStringLiteral("newProjectAction"));
    newProject->setToolTip(tr("Create a .qsproj experiment store: Evaluate and Sweep keep their runs there"));
    connect(newProject, &QAction::triggered, this, &MainWindow::chooseNewProject);
    QAction* openProject = file->addAction(tr("Open &Project…"));
    openProject->setObjectName(QStringLiteral("openProjectAction"));
    connect(openProject, &QAction::triggered, this, &MainWindow::chooseOpenProject);
    QAction* close = file->addAction(tr("&Close Project"));
    close->setObjectName(QStringLiteral("closeProjectAction"));
    connect(close, &QAction::triggered, this, &MainWindow::closeProject);
    m_reportAction = file->addAction(tr("&Export report…"));
    m_reportAction->setObjectName(QStringLiteral("reportAction"));
    m_reportAction->setIconText(tr("Report"));
    m_reportAction->setToolTip(tr("Write the open project's report (HTML with PNGs, or PDF): Pareto chart, "
                                  "method comparison, the selected run's layers"));
    connect(m_reportAction, &QAction::triggered, this, &MainWindow::chooseExportReport);

    m_dataMenu = new QMenu(tr("Data"), this);
    m_dataMenu->setObjectName(QStringLiteral("dataMenu"));
    m_evalDataAction = m_dataMenu->addAction(tr("Evaluation data…"));
    m_evalDataAction->setObjectName(QStringLiteral("evalDataAction"));
    connect(m_evalDataAction, &QAction::triggered, this, [this] { chooseData(DataKind::Evaluation); });
    m_labelsDataAction = m_dataMenu->addAction(tr("Labels…"));
    m_labelsDataAction->setObjectName(QStringLiteral("labelsDataAction"));
    connect(m_labelsDataAction, &QAction::triggered, this, [this] { chooseData(DataKind::Labels); });
    m_calibDataAction = m_dataMenu->addAction(tr("Calibration data…"));
    m_calibDataAction->setObjectName(QStringLiteral("calibDataAction"));
    connect(m_calibDataAction, &QAction::triggered, this, [this] { chooseData(DataKind::Calibration); });
    m_dataMenu->addSeparator();
    connect(m_dataMenu->addAction(tr("Clear calibration data")), &QAction::triggered, this,
            [this] { setCalibrationData({}); });

    m_evaluateAction = new QAction(tr("Evaluate"), this);
    m_evaluateAction->setObjectName(QStringLiteral("evaluateAction"));
    m_evaluateAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_evaluateAction->setToolTip(
        tr("Perplexity of fp32 and of the chosen recipe on the evaluation data, with KLD and top-1 "
           "agreement (a classifier: accuracy on the labelled images); stored in the open project (Ctrl+E)"));
    connect(m_evaluateAction, &QAction::triggered, this, &MainWindow::evaluate);
    m_sweepAction = new QAction(tr("Sweep…"), this);
    m_sweepAction->setObjectName(QStringLiteral("sweepAction"));
    m_sweepAction->setToolTip(tr("Evaluate a grid of methods × formats × granularities into the project"));
    connect(m_sweepAction, &QAction::triggered, this, &MainWindow::showSweepDialog);

    QMenu* run = new QMenu(tr("&Run"), this);
    run->addAction(m_runAction);
    run->addAction(m_evaluateAction);
    run->addAction(m_sweepAction);
    run->addSeparator();
    connect(run->addAction(tr("&Cancel job")), &QAction::triggered, this, &MainWindow::cancelJob);
    menuBar()->addMenu(run);
    updateDataMenu();
}

void MainWindow::createEvalForm(QWidget* params, QLayout* layout) {
    auto* box = new QGroupBox(tr("Evaluation"), params);
    box->setObjectName(QStringLiteral("evalBox"));
    auto* boxLayout = new QVBoxLayout(box);
    m_evalForm = new ParamForm(box);
    m_evalForm->setObjectName(QStringLiteral("evalForm"));
    m_evalForm->setSchema(core::evalOptionsSchema()); // declared once in the core (data/windows.h)
    boxLayout->addWidget(m_evalForm);
    auto* hooks = new QFormLayout;
    m_actQuantEdit = new QLineEdit(box);
    m_actQuantEdit->setObjectName(QStringLiteral("actQuantEdit"));
    m_actQuantEdit->setPlaceholderText(tr("none (e.g. int8:token)"));
    m_actQuantEdit->setToolTip(tr("Activation fake quantization of every Linear input: "
                                  "FORMAT[:token|tensor|channel|group|block][:N][:sym|asym]. A classifier "
                                  "(Conv/Gemm inputs): int8:tensor, static scales from the calibration "
                                  "images when given, else per batch"));
    m_kvQuantEdit = new QLineEdit(box);
    m_kvQuantEdit->setObjectName(QStringLiteral("kvQuantEdit"));
    m_kvQuantEdit->setPlaceholderText(tr("none (e.g. int8:token)"));
    m_kvQuantEdit->setToolTip(tr("KV-cache fake quantization, same form as activations"));
    hooks->addRow(tr("Activations"), m_actQuantEdit);
    hooks->addRow(tr("KV cache"), m_kvQuantEdit);
    boxLayout->addLayout(hooks);
    layout->addWidget(box);
}

// ---------------------------------------------------------------------------------------------
// Projects

bool MainWindow::openProject(const QString& path, bool create) {
    const QString abs = QFileInfo(path).absoluteFilePath();
    try {
        m_project = core::Project::open(abs.toStdString(), create);
    } catch (const std::exception& e) {
        appendLog(LogLevel::Error, QString::fromStdString(e.what()));
        statusBar()->showMessage(QString::fromStdString(e.what()), 10000);
        return false;
    }
    QSettings().setValue(kLastProjectKey, abs);
    m_context->setProjectPath(abs);
    appendLog(LogLevel::Info,
              tr("Project %1 (%n run(s))", nullptr, static_cast<int>(m_project->runs().size())).arg(abs));
    updateProjectLabel();
    return true;
}

QString MainWindow::defaultProjectPath() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/default.qsproj");
}

std::shared_ptr<core::Project> MainWindow::ensureProject() {
    if (m_project) return m_project;
    const QString path = defaultProjectPath();
    if (!QDir().mkpath(QFileInfo(path).absolutePath())) {
        appendLog(LogLevel::Warning, tr("Cannot create the folder of the default project %1").arg(path));
        return nullptr;
    }
    const bool created = !QFileInfo::exists(path);
    if (!openProject(path, true)) return nullptr;
    const QString what = created ? tr("Created the default project %1").arg(path)
                                 : tr("Runs go to the default project %1").arg(path);
    appendLog(LogLevel::Info, what + tr(" (File ▸ New Project… for another)"));
    statusBar()->showMessage(what, 8000);
    return m_project;
}

void MainWindow::showRunResult(qint64 id) {
    const auto& model = m_context->model();
    if (id == 0 || !m_project || !model || m_jobs->isRunning()) return;
    try {
        const auto run = m_project->run(id);
        if (!run || run->status != "finished") return;
        // Another model's layers would not match the table: its runs stay in Runs and Pareto only.
        if (m_project->model(run->modelId).path != model->path().string()) return;
        if (run->recipe == "{}") {
            m_context->setQuantResult(std::nullopt); // the fp32 reference quantizes nothing
            return;
        }
        m_context->setQuantResult(core::storedQuantResult(*m_project, id, m_registries));
    } catch (const std::exception& e) {
        appendLog(LogLevel::Warning, tr("Run %1: %2").arg(id).arg(QString::fromStdString(e.what())));
    }
}

void MainWindow::closeProject() {
    if (!m_project) return;
    m_project.reset(); // a running job keeps its own reference until it ends
    QSettings().remove(kLastProjectKey);
    m_context->setProjectPath({});
    updateProjectLabel();
}

void MainWindow::restoreLastProject() {
    connect(m_context, &plugins::ViewContext::projectRunsChanged, this, &MainWindow::updateProjectLabel);
    const QString last = QSettings().value(kLastProjectKey).toString();
    if (last.isEmpty()) return;
    if (!QFileInfo::exists(last)) {
        QSettings().remove(kLastProjectKey);
        return;
    }
    openProject(last, false);
}

void MainWindow::chooseNewProject() {
    QSettings settings;
    const QString dir = settings.value(kLastProjectDirKey, QDir::homePath()).toString();
    QString path =
        QFileDialog::getSaveFileName(this, tr("New project"), dir + QStringLiteral("/experiments.qsproj"),
                                     tr("QuantScope projects (*.qsproj)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(QLatin1String(".qsproj"))) path += QStringLiteral(".qsproj");
    settings.setValue(kLastProjectDirKey, QFileInfo(path).absolutePath());
    openProject(path, true);
}

void MainWindow::chooseOpenProject() {
    QSettings settings;
    const QString dir = settings.value(kLastProjectDirKey, QDir::homePath()).toString();
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open project"), dir, tr("QuantScope projects (*.qsproj)"));
    if (path.isEmpty()) return;
    settings.setValue(kLastProjectDirKey, QFileInfo(path).absolutePath());
    openProject(path, false);
}

void MainWindow::chooseExportReport() {
    if (!m_project) {
        statusBar()->showMessage(tr("Open a project first (File ▸ Open Project…)"), 8000);
        return;
    }
    QSettings settings;
    const QString dir = settings.value(kLastProjectDirKey, QDir::homePath()).toString();
    const QString stem = QFileInfo(QString::fromStdString(m_project->path().string())).completeBaseName();
    const QString out = QFileDialog::getSaveFileName(
        this, tr("Export report"), dir + QLatin1Char('/') + stem + QStringLiteral("-report.html"),
        tr("HTML report (*.html);;PDF report (*.pdf)"));
    if (out.isEmpty()) return;
    QString error;
    if (!exportReport(out, &error)) statusBar()->showMessage(error, 10000);
}

bool MainWindow::exportReport(const QString& out, QString* error) {
    QString why;
    if (!m_project) {
        why = tr("no project is open");
    } else {
        // The report renders its plots with widgets, so it runs here on the GUI thread (seconds at most).
        QApplication::setOverrideCursor(Qt::WaitCursor);
        const qint64 run = m_context->selectedRunId();
        const bool ok = report::writeReport(m_project->path(), out.toStdString(),
                                            run ? std::optional<std::int64_t>(run) : std::nullopt, &why);
        QApplication::restoreOverrideCursor();
        if (ok) {
            appendLog(LogLevel::Info, tr("Report written to %1").arg(out));
            return true;
        }
    }
    why = tr("Export report: %1").arg(why);
    appendLog(LogLevel::Error, why);
    if (error) *error = why;
    return false;
}

void MainWindow::updateProjectLabel() {
    if (!m_projectLabel) return;
    if (!m_project) {
        m_projectLabel->setText(tr("No project"));
        m_projectLabel->setToolTip(tr("Evaluate and Sweep store their runs in the default project %1, created "
                                      "on first use, unless File ▸ New Project… chooses another")
                                       .arg(defaultProjectPath()));
        return;
    }
    const QString path = QString::fromStdString(m_project->path().string());
    int runs = 0;
    try {
        runs = static_cast<int>(m_project->runs().size());
    } catch (const std::exception&) {
        // a busy database (another writer) is not worth an error in a label
    }
    m_projectLabel->setText(tr("Project: %1 · %n run(s)", nullptr, runs).arg(fileName(path)));
    m_projectLabel->setToolTip(path);
}

// ---------------------------------------------------------------------------------------------
// Data

void MainWindow::setEvaluationData(const QString& path) {
    m_evalData = path.isEmpty() ? QString() : QFileInfo(path).absoluteFilePath();
    if (const auto& model = m_context->model())
        QSettings().setValue(modelDataKey(QString::fromStdString(model->path().string()), "eval"),
                             m_evalData);
    updateDataMenu();
}

void MainWindow::setCalibrationData(const QString& path) {
    m_calibData = path.isEmpty() ? QString() : QFileInfo(path).absoluteFilePath();
    if (const auto& model = m_context->model())
        QSettings().setValue(modelDataKey(QString::fromStdString(model->path().string()), "calib"),
                             m_calibData);
    updateDataMenu();
}

void MainWindow::setLabelsData(const QString& path) {
    m_labelsData = path.isEmpty() ? QString() : QFileInfo(path).absoluteFilePath();
    if (const auto& model = m_context->model())
        QSettings().setValue(modelDataKey(QString::fromStdString(model->path().string()), "labels"),
                             m_labelsData);
    updateDataMenu();
}

bool MainWindow::isClassifierOpen() const {
    const auto& model = m_context->model();
    return model && core::isClassifierModel(*model);
}

void MainWindow::loadModelData() {
    const auto& model = m_context->model();
    if (!model) return;
    const QString modelPath = QString::fromStdString(model->path().string());
    QSettings settings;
    // A model without remembered data keeps the current choice (and remembers it from now on).
    const QString evalKey = modelDataKey(modelPath, "eval"), calibKey = modelDataKey(modelPath, "calib");
    const QString sample = QFileInfo(modelPath).isDir() ? modelPath + QStringLiteral("/sample.txt") : QString();
    if (settings.contains(evalKey)) {
        m_evalData = settings.value(evalKey).toString();
    } else if (!sample.isEmpty() && QFileInfo::exists(sample)) {
        // A model that ships its own sample text (the demo does) is evaluated on it until the user
        // chooses other data, so a first Evaluate works at once.
        m_evalData = QFileInfo(sample).absoluteFilePath();
        settings.setValue(evalKey, m_evalData);
        appendLog(LogLevel::Info, tr("Evaluation data: %1, shipped with the model").arg(m_evalData));
    } else if (!m_evalData.isEmpty()) {
        settings.setValue(evalKey, m_evalData);
    }
    if (settings.contains(calibKey))
        m_calibData = settings.value(calibKey).toString();
    else if (!m_calibData.isEmpty())
        settings.setValue(calibKey, m_calibData);
    m_labelsData = settings.value(modelDataKey(modelPath, "labels")).toString();
    updateDataMenu();
}

void MainWindow::chooseData(DataKind kind) {
    QSettings settings;
    const QString dir = settings.value(kLastDataDirKey, QDir::homePath()).toString();
    const bool classifier = isClassifierOpen();
    const QString title = kind == DataKind::Labels        ? tr("Labels")
                          : kind == DataKind::Calibration ? tr("Calibration data")
                                                          : tr("Evaluation data");
    const QString filter = classifier ? tr("Arrays (*.npy *.h5 *.hdf5);;All files (*)")
                                      : tr("Text or token ids (*.txt *.npy);;All files (*)");
    QString path = QFileDialog::getOpenFileName(this, title, dir, filter);
    if (path.isEmpty()) return;
    settings.setValue(kLastDataDirKey, QFileInfo(path).absolutePath());
    // An HDF5 file holds several arrays: the data spec names one, FILE.h5:DATASET.
    if (path.endsWith(QLatin1String(".h5")) || path.endsWith(QLatin1String(".hdf5"))) {
        bool ok = false;
        const QString dataset = QInputDialog::getText(this, title, tr("Dataset in %1:").arg(fileName(path)),
                                                      QLineEdit::Normal, QString(), &ok);
        if (!ok || dataset.trimmed().isEmpty()) return;
        path += QLatin1Char(':') + dataset.trimmed();
    }
    switch (kind) {
    case DataKind::Evaluation:
        setEvaluationData(path);
        break;
    case DataKind::Calibration:
        setCalibrationData(path);
        break;
    case DataKind::Labels:
        setLabelsData(path);
        break;
    }
}

void MainWindow::updateDataMenu() {
    if (!m_evalDataAction) return;
    m_evalDataAction->setText(m_evalData.isEmpty() ? tr("Evaluation data…")
                                                   : tr("Evaluation data: %1…").arg(fileName(m_evalData)));
    m_evalDataAction->setToolTip(m_evalData.isEmpty() ? tr("Text or token .npy for perplexity") : m_evalData);
    m_calibDataAction->setText(m_calibData.isEmpty()
                                   ? tr("Calibration data…")
                                   : tr("Calibration data: %1…").arg(fileName(m_calibData)));
    m_calibDataAction->setToolTip(m_calibData.isEmpty()
                                      ? tr("Text or token .npy for calibrated methods (GPTQ) and transforms; "
                                           "a classifier: images for static activation scales")
                                      : m_calibData);
    m_labelsDataAction->setText(m_labelsData.isEmpty() ? tr("Labels…")
                                                       : tr("Labels: %1…").arg(fileName(m_labelsData)));
    m_labelsDataAction->setToolTip(
        tr("A classifier's labels of the evaluation images (Y.npy or FILE.h5:DATASET)"));
    m_labelsDataAction->setEnabled(isClassifierOpen());
}

// ---------------------------------------------------------------------------------------------
// Recipe and settings

bool MainWindow::needsCalibration() const {
    const std::optional<core::Recipe> recipe = currentRecipe();
    return recipe && core::recipeNeedsCalibration(*recipe, m_registries);
}

std::optional<core::Recipe> MainWindow::currentRecipe(QString* error) const {
    try {
        core::QuantJob job;
        job.method = m_methodCombo->currentData(Qt::UserRole).toString().toStdString();
        job.spec = core::QuantSpec::fromJson(m_specForm->values());
        job.methodParams = m_methodForm->values();
        if (const QString t = transform(); !t.isEmpty())
            job.transforms.push_back({t.toStdString(), m_transformForm->values()});
        nlohmann::json j = job.toJson();
        if (!m_context->layerRules().empty()) j["layers"] = m_context->layerRules(); // set in the layer table
        if (const QString a = m_actQuantEdit->text().trimmed(); !a.isEmpty())
            j["activation"] = core::hookSpecFromString(a.toStdString(), "activations").toJson();
        if (const QString kv = m_kvQuantEdit->text().trimmed(); !kv.isEmpty())
            j["kv_cache"] = core::hookSpecFromString(kv.toStdString(), "KV cache").toJson();
        return core::recipeFromJson(j, m_registries, "recipe");
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return std::nullopt;
    }
}

core::RecipeRunTarget MainWindow::runTarget() const {
    core::RecipeRunTarget t;
    t.model = m_context->model();
    t.data = m_evalData.toStdString();
    if (isClassifierOpen()) t.labels = m_labelsData.toStdString();
    t.eval = evalOptions();
    return t;
}

core::EvalOptions MainWindow::evalOptions() const {
    return core::evalOptionsFromJson(m_evalForm->values(), "evaluation");
}

QString MainWindow::notRunnableReason() const {
    if (!m_context->model()) return tr("Open a model first");
    if (m_jobs->isRunning()) return tr("A job is running: wait for it or cancel it");
    if (m_evalData.isEmpty()) return tr("Choose evaluation data (toolbar ▸ Data ▸ Evaluation data…)");
    if (isClassifierOpen() && m_labelsData.isEmpty())
        return tr("A classifier is scored against labels: choose them (toolbar ▸ Data ▸ Labels…)");
    return {};
}

// ---------------------------------------------------------------------------------------------
// Evaluate

bool MainWindow::evaluate() {
    const auto fail = [this](const QString& why) {
        statusBar()->showMessage(why, 8000);
        appendLog(LogLevel::Warning, why);
        return false;
    };
    if (const QString why = notRunnableReason(); !why.isEmpty()) return fail(why);
    QString error;
    const std::optional<core::Recipe> recipe = currentRecipe(&error);
    if (!recipe) return fail(error);
    if (core::recipeNeedsCalibration(*recipe, m_registries) && m_calibData.isEmpty())
        return fail(tr("%1 needs calibration data: choose it in the toolbar's Data menu")
                        .arg(QString::fromStdString(recipe->label())));

    core::RecipeRunTarget target = runTarget();
    target.commandLine = "quantscope (GUI) evaluate";
    // Calibration goes to the recipe only where it acts (a calibrated method or transform; a
    // classifier's static activation scales); the core decides, and keys the run by it.
    const core::RecipeCalibration calib{m_calibData.toStdString(),
                                        m_evalForm->values().value("calib_windows", 128LL)};
    const std::shared_ptr<core::Project> project = ensureProject();
    if (!project)
        appendLog(LogLevel::Warning, tr("No project could be opened: this result is kept for the session only "
                                        "(File ▸ New Project… stores runs)"));

    m_lastEvaluation.reset();
    m_jobTarget = tr("Evaluate %1").arg(QString::fromStdString(recipe->label()));
    if (isClassifierOpen())
        appendLog(LogLevel::Info,
                  tr("%1 on %2 (labels %3)").arg(m_jobTarget, fileName(m_evalData), fileName(m_labelsData)));
    else
        appendLog(LogLevel::Info,
                  tr("%1 on %2 (ctx %3, %4)")
                      .arg(m_jobTarget, fileName(m_evalData))
                      .arg(target.eval.ctx)
                      .arg(target.eval.maxWindows ? tr("%1 windows").arg(target.eval.maxWindows)
                                                  : tr("all windows")));
    const core::Registries& registries = m_registries;
    return startJob({m_jobTarget, [this](JobState state, const QString& seconds) { reportEvaluation(state, seconds); }},
                    tr("Evaluate"), tr("step"),
                         [this, target, recipe = *recipe, calib, project,
                          &registries](const core::JobContext& ctx) -> std::function<void()> {
                             auto out = std::make_shared<core::RecipeRunOutcome>(
                                 core::evaluateRecipe(target, recipe, calib, registries, project.get(), ctx));
                             return [this, out, stored = project != nullptr] {
                                 m_lastEvaluation = *out;
                                 if (!stored) m_sessionRuns.push_back(*out);
                             };
                         });
}

void MainWindow::updateEvaluationLabel() {
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

SweepSelection MainWindow::currentSweepSelection() const {
    SweepSelection s;
    s.methods << m_methodCombo->currentData(Qt::UserRole).toString();
    s.transforms << transform();
    s.transformParams = m_transformForm->values();
    s.layerRules = m_context->layerRules();
    const nlohmann::json v = m_specForm->values();
    s.formats << QString::fromStdString(v.value("format", "int4"));
    s.granularities << QString::fromStdString(v.value("granularity", "group"));
    s.groups << v.value("group", 128);
    s.sym = v.value("sym", true);
    s.asym = !s.sym;
    s.calib = m_calibData;
    s.calibWindows = m_evalForm->values().value("calib_windows", 128LL);
    return s;
}

int MainWindow::countExistingRuns(const std::vector<core::SweepPoint>& points) const {
    const auto& model = m_context->model();
    if (!m_project || !model || m_evalData.isEmpty()) return 0;
    // Matched by path (what the store recorded) rather than content hash: hashing a large model would
    // block the GUI; the sweep itself re-checks by hash and skips exactly.
    const std::string modelPath = std::filesystem::absolute(model->path()).lexically_normal().string();
    const std::string dataPath =
        std::filesystem::absolute(m_evalData.toStdString()).lexically_normal().string();
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
                core::recipeRunSettingsKey(target, *p.recipe, {p.calib, p.calibWindows}, m_registries) +
                '\n' + p.recipe->canonical();
            if (have.count(key)) counted.insert(key);
        }
    return static_cast<int>(counted.size());
}

void MainWindow::showSweepDialog() {
    SweepDialog dialog(m_registries, this);
    dialog.setSelection(currentSweepSelection());
    dialog.setProjectInfo([this](const std::vector<core::SweepPoint>& p) { return countExistingRuns(p); },
                          notRunnableReason());
    if (dialog.exec() == QDialog::Accepted) runSweep(dialog.grid());
}

bool MainWindow::runSweep(const nlohmann::json& grid) {
    if (const QString why = notRunnableReason(); !why.isEmpty()) {
        statusBar()->showMessage(why, 8000);
        appendLog(LogLevel::Warning, why);
        return false;
    }
    std::vector<core::SweepPoint> points;
    try {
        points = core::expandGrid(grid, m_registries);
    } catch (const std::exception& e) {
        appendLog(LogLevel::Error, QString::fromStdString(e.what()));
        statusBar()->showMessage(QString::fromStdString(e.what()), 8000);
        return false;
    }
    core::SweepOptions options;
    options.model = m_context->model()->path();
    options.data = m_evalData.toStdString();
    if (isClassifierOpen()) options.labels = m_labelsData.toStdString();
    options.eval = evalOptions();
    options.jobs = 1; // one recipe at a time, each using every thread (the machine is shared)
    options.commandLine = "quantscope (GUI) sweep --grid '" + grid.dump() + "'";
    const std::shared_ptr<core::Project> project = ensureProject();
    if (!project) {
        const QString why = tr("A sweep stores its runs in a project, and none could be opened: File ▸ New Project…");
        statusBar()->showMessage(why, 8000);
        appendLog(LogLevel::Warning, why);
        return false;
    }
    plugins::ViewContext* context = m_context;
    const core::Registries& registries = m_registries;

    m_lastSweep.reset();
    m_jobTarget = tr("Sweep of %n point(s)", nullptr, static_cast<int>(points.size()));
    appendLog(LogLevel::Info,
              tr("%1 into %2: %3")
                  .arg(m_jobTarget, QString::fromStdString(project->path().filename().string()),
                       QString::fromStdString(grid.dump())));
    return startJob({m_jobTarget, [this](JobState state, const QString& seconds) { reportSweep(state, seconds); }},
                    tr("Sweep"), tr("run"),
                         [this, points, options, project, context,
                          &registries](const core::JobContext& ctx) -> std::function<void()> {
                             // Each progress step follows a stored run: let the Runs view show it at once.
                             const core::JobContext inner{
                                 [&ctx, context](long long d, long long t, const std::string& m) {
                                     if (ctx.progress) ctx.progress(d, t, m);
                                     QMetaObject::invokeMethod(
                                         context, [context] { context->notifyProjectRunsChanged(); },
                                         Qt::QueuedConnection);
                                 },
                                 ctx.cancel};
                             auto summary = std::make_shared<core::SweepSummary>(
                                 core::runSweep(*project, points, options, registries, inner));
                             return [this, summary] { m_lastSweep = *summary; };
                         });
}

// ---------------------------------------------------------------------------------------------
// Job results

void MainWindow::reportEvaluation(JobState state, const QString& seconds) {
    if (state == JobState::Succeeded && m_lastEvaluation) {
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
            appendLog(LogLevel::Info,
                      tr("%1: accuracy %2% (fp32 %3%), argmax agreement %4%, %5 bits/weight — %6 (%7 s)")
                          .arg(m_jobTarget, acc,
                               e.referenceAccuracy ? QString::number(*e.referenceAccuracy * 100, 'f', 2)
                                                   : QStringLiteral("—"),
                               top1, optText(m.bitsPerWeight, 3), where, seconds));
            m_jobStatus->setText(tr("%1: accuracy %2%").arg(m_jobTarget, acc));
        } else {
            appendLog(
                LogLevel::Info,
                tr("%1: ppl %2 (fp32 %3, Δ %4), KLD mean %5 p99 %6, top-1 %7%, %8 bits/weight — %9 (%10 s)")
                    .arg(m_jobTarget, optText(m.perplexity, 4), optText(m.referencePerplexity, 4))
                    .arg(signedText(e.deltaPerplexity(), 4))
                    .arg(optText(m.kldMean, 5), optText(m.kldP99, 5), top1, optText(m.bitsPerWeight, 3),
                         where, seconds));
            m_jobStatus->setText(tr("%1: ppl %2 (Δ %3)")
                                     .arg(m_jobTarget, optText(m.perplexity, 4))
                                     .arg(signedText(e.deltaPerplexity(), 4)));
        }
        updateEvaluationLabel();
        if (e.runId) {
            m_context->notifyProjectRunsChanged();
            m_context->setSelectedRunId(e.runId);
        }
    }
}

void MainWindow::reportSweep(JobState state, const QString& seconds) {
    m_context->notifyProjectRunsChanged(); // runs stored up to a cancel stay
    if (state == JobState::Succeeded && m_lastSweep) {
        const nlohmann::json j = m_lastSweep->toJson();
        const QString counts = tr("%1 done, %2 already in the project, %3 failed, %4 invalid, %5 duplicate")
                                   .arg(j.value("done", 0))
                                   .arg(j.value("skipped", 0))
                                   .arg(j.value("failed", 0))
                                   .arg(j.value("invalid", 0))
                                   .arg(j.value("duplicate", 0));
        appendLog(LogLevel::Info, tr("%1 finished in %2 s: %3; fp32 ppl %4 (run #%5)")
                                      .arg(m_jobTarget, seconds, counts)
                                      .arg(m_lastSweep->referencePerplexity, 0, 'f', 4)
                                      .arg(m_lastSweep->referenceRunId));
        for (const auto& o : m_lastSweep->outcomes)
            if (o.status == "failed" || o.status == "invalid")
                appendLog(LogLevel::Warning,
                          QStringLiteral("%1 %2: %3")
                              .arg(QString::fromStdString(o.status),
                                   QString::fromStdString(o.label.empty() ? o.recipe.dump() : o.label),
                                   QString::fromStdString(o.message)));
        m_jobStatus->setText(tr("%1 finished in %2 s: %3").arg(m_jobTarget, seconds, counts));
    }
}

} // namespace qs::gui
