// SPDX-License-Identifier: MIT
// ExperimentController: its actions, the project, the data chosen per model, what may run now.
#include "experiment_controller.h"

#include "data/calib_data.h"
#include "experiment/run_export.h"
#include "common/param_form.h"
#include "parameters_panel.h"
#include "quant/recipe.h"
#include "report.h"
#include "store/stored_result.h"
#include "sweep_dialog.h"

#include <QAction>
#include <QApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFontMetrics>
#include <QFormLayout>
#include <QFrame>
#include <QToolButton>
#include <QHBoxLayout>
#include <QMainWindow>
#include <QPushButton>
#include <QMenu>
#include <QMenuBar>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <filesystem>
#include <map>
#include <set>

namespace qs::gui {
namespace {

const QString kLastProjectKey = QStringLiteral("lastProject");
const QString kLastProjectDirKey = QStringLiteral("lastProjectDir");
const QString kLastDataDirKey = QStringLiteral("lastDataDir");

QString modelDataKey(const QString& modelPath, const char* what) {
    return ExperimentController::pathSettingsKey(QStringLiteral("modelData"), modelPath) + QLatin1Char('/') +
           QLatin1String(what);
}

QString fileName(const QString& path) {
    return QFileInfo(path).fileName();
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Construction

ExperimentController::ExperimentController(QMainWindow* window, plugins::ViewContext* context,
                                           ParametersPanel* panel)
    : QObject(window), m_window(window), m_context(context), m_panel(panel), m_jobs(context->jobs()) {
    createActions();
    m_projectLabel = new QLabel(window);
    m_projectLabel->setObjectName(QStringLiteral("projectLabel"));
    m_evalLabel = new QLabel(window);
    m_evalLabel->setObjectName(QStringLiteral("evaluationLabel"));
    m_banner = new QFrame(window);
    m_banner->setObjectName(QStringLiteral("refusalBanner"));
    static_cast<QFrame*>(m_banner)->setFrameShape(QFrame::StyledPanel);
    m_banner->setStyleSheet(QStringLiteral("#refusalBanner { background: #fff4ce; border: 1px solid #e0c060; }"));
    m_bannerText = new QLabel(m_banner);
    m_bannerText->setObjectName(QStringLiteral("refusalText"));
    m_bannerText->setWordWrap(true);
    m_bannerFix = new QPushButton(m_banner);
    m_bannerFix->setObjectName(QStringLiteral("refusalFix"));
    auto* bannerLayout = new QHBoxLayout(m_banner);
    bannerLayout->setContentsMargins(6, 4, 6, 4);
    bannerLayout->addWidget(m_bannerText, 1);
    bannerLayout->addWidget(m_bannerFix);
    connect(m_bannerFix, &QPushButton::clicked, this, [this] {
        if (m_bannerFixKind) chooseData(*m_bannerFixKind);
    });
    connect(m_context, &plugins::ViewContext::dataChanged, this, &ExperimentController::updateRunEnabled);
    connect(m_context, &plugins::ViewContext::selectedRunChanged, this, &ExperimentController::updateRunEnabled);
    connect(m_context, &plugins::ViewContext::projectChanged, this, &ExperimentController::updateRunEnabled);
    connect(m_panel, &ParametersPanel::recipeChanged, this, &ExperimentController::updateRunEnabled);
    connect(m_context, &plugins::ViewContext::modelChanged, this, &ExperimentController::updateRunEnabled);
    connect(m_context, &plugins::ViewContext::dataChanged, this, &ExperimentController::updateDataMenu);
    connect(m_jobs, &plugins::JobService::started, this, &ExperimentController::updateRunEnabled);
    connect(m_jobs, &plugins::JobService::finished, this, &ExperimentController::updateRunEnabled);
    connect(m_context, &plugins::ViewContext::projectRunsChanged, this, &ExperimentController::updateProjectLabel);
    // Selecting a run in any view (Pareto point, Runs row) makes it the current result in all of them.
    connect(m_context, &plugins::ViewContext::selectedRunChanged, this, &ExperimentController::showRunResult);
    connect(m_context, &plugins::ViewContext::recipeLoadRequested, this, [this](qint64 id) {
        QString error;
        if (!loadRunIntoForm(id, &error)) refuse(error);
    });
    // A rule from the layer table that the recipe refuses (e.g. a format that cannot take the group) is
    // said at once, not only when Run ▶ is pressed.
    connect(m_context, &plugins::ViewContext::layerRulesChanged, this, [this] {
        QString error;
        if (!m_panel->currentRecipe(&error)) m_jobs->log(plugins::LogLevel::Warning, error);
    });
    updateProjectLabel();
    updateEvaluationLabel();
    updateDataMenu();
    updateRunEnabled();
}

ExperimentController::~ExperimentController() = default;

void ExperimentController::createActions() {
    const auto action = [this](const QString& text, const char* name, auto slot) {
        auto* a = new QAction(text, this);
        a->setObjectName(QLatin1String(name));
        connect(a, &QAction::triggered, this, slot);
        return a;
    };
    m_runAction = action(tr("Run ▶"), "runAction", &ExperimentController::runQuantization);
    m_runAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_evaluateAction = action(tr("Evaluate"), "evaluateAction", &ExperimentController::evaluate);
    m_evaluateAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_sweepAction = action(tr("Sweep…"), "sweepAction", &ExperimentController::showSweepDialog);
    // Their tooltips say what they do, or why they are off (updateRunEnabled).

    QAction* newProject = action(tr("&New Project…"), "newProjectAction", &ExperimentController::chooseNewProject);
    newProject->setToolTip(tr("Create a .qsproj experiment store: Evaluate and Sweep keep their runs there"));
    QAction* openProject = action(tr("Open &Project…"), "openProjectAction", &ExperimentController::chooseOpenProject);
    QAction* close = action(tr("&Close Project"), "closeProjectAction", &ExperimentController::closeProject);
    m_reportAction = action(tr("&Export report…"), "reportAction", &ExperimentController::chooseExportReport);
    m_reportAction->setIconText(tr("Report"));
    m_reportAction->setToolTip(tr("Write the open project's report (HTML with PNGs, or PDF): Pareto chart, "
                                  "method comparison, the selected run's layers"));
    m_exportRunAction = action(tr("Export &run…"), "exportRunAction", &ExperimentController::chooseExportRun);
    m_exportRunAction->setToolTip(tr("Write the selected run as a recipe, llama.cpp tensor types, safetensors or "
                                     "GGUF (what quantscope-cli export --run writes)"));
    m_projectActions = {newProject, openProject, close, m_exportRunAction, m_reportAction};

    m_dataMenu = new QMenu(tr("Data"), m_window);
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

    m_dataButton = new QToolButton(m_window);
    m_dataButton->setObjectName(QStringLiteral("dataButton"));
    m_dataButton->setMenu(m_dataMenu);
    m_dataButton->setPopupMode(QToolButton::InstantPopup);
    m_dataButton->setToolButtonStyle(Qt::ToolButtonTextOnly);

    m_runMenu = new QMenu(tr("&Run"), m_window);
    m_runMenu->addAction(m_runAction);
    m_runMenu->addAction(m_evaluateAction);
    m_runMenu->addAction(m_sweepAction);
    m_runMenu->addSeparator();
    connect(m_runMenu->addAction(tr("&Cancel job")), &QAction::triggered, m_jobs, &plugins::JobService::cancel);
}

bool ExperimentController::refuse(const QString& why) {
    m_window->statusBar()->showMessage(why, 8000);
    m_jobs->log(plugins::LogLevel::Warning, why);
    return false;
}

void ExperimentController::updateRunEnabled() {
    const std::optional<Refusal> run = refusal(Job::Run), eval = refusal(Job::Evaluate), sweep = refusal(Job::Sweep);
    // Each action says why it is off where the eye is: its tooltip, and the banner above the Parameters.
    const auto say = [](QAction* a, const QString& what, const std::optional<Refusal>& no) {
        a->setEnabled(!no);
        a->setToolTip(no ? tr("%1 — unavailable: %2").arg(what, no->why) : what);
    };
    say(m_runAction, tr("Quantize every quantizable weight with the chosen method and format (Ctrl+R)"), run);
    say(m_evaluateAction,
        tr("Perplexity of fp32 and of the chosen recipe on the evaluation data, with KLD and top-1 agreement (a "
           "classifier: accuracy on the labelled images); stored in the open project (Ctrl+E)"),
        eval);
    say(m_sweepAction, tr("Evaluate a grid of methods × formats × granularities into the project"), sweep);
    const qint64 selected = m_context->selectedRunId();
    m_exportRunAction->setEnabled(m_project && selected != 0 && !m_jobs->isRunning());
    // A running job is not a refusal worth a banner; the first thing to fix is.
    const std::optional<Refusal> shown = m_jobs->isRunning() ? std::nullopt : run ? run : eval;
    m_banner->setVisible(shown.has_value());
    if (!shown) return;
    m_bannerText->setText(run ? tr("Run ▶ and Evaluate are off: %1.").arg(shown->why)
                              : tr("Evaluate is off: %1.").arg(shown->why));
    m_bannerFixKind = shown->fix;
    m_bannerFix->setVisible(shown->fix.has_value());
    if (shown->fix)
        m_bannerFix->setText(*shown->fix == DataKind::Calibration ? tr("Choose calibration data…")
                             : *shown->fix == DataKind::Labels    ? tr("Choose labels…")
                                                                  : tr("Choose evaluation data…"));
}

// ---------------------------------------------------------------------------------------------
// Projects

bool ExperimentController::openProject(const QString& path, bool create) {
    const QString abs = QFileInfo(path).absoluteFilePath();
    try {
        m_project = core::Project::open(abs.toStdString(), create);
    } catch (const std::exception& e) {
        m_jobs->log(plugins::LogLevel::Error, QString::fromStdString(e.what()));
        m_window->statusBar()->showMessage(QString::fromStdString(e.what()), 10000);
        return false;
    }
    QSettings().setValue(kLastProjectKey, abs);
    m_context->setProjectPath(abs);
    m_jobs->log(plugins::LogLevel::Info,
              tr("Project %1 (%n run(s))", nullptr, static_cast<int>(m_project->runs().size())).arg(abs));
    updateProjectLabel();
    return true;
}

QString ExperimentController::pathSettingsKey(const QString& group, const QString& path) {
    // The path's hash keeps slashes (QSettings' separator) out of the key.
    return group + QLatin1Char('/') +
           QString::fromLatin1(QCryptographicHash::hash(path.toUtf8(), QCryptographicHash::Md5).toHex());
}

QString ExperimentController::defaultProjectPath() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/default.qsproj");
}

std::shared_ptr<core::Project> ExperimentController::ensureProject() {
    if (m_project) return m_project;
    const QString path = defaultProjectPath();
    if (!QDir().mkpath(QFileInfo(path).absolutePath())) {
        m_jobs->log(plugins::LogLevel::Warning, tr("Cannot create the folder of the default project %1").arg(path));
        return nullptr;
    }
    const bool created = !QFileInfo::exists(path);
    if (!openProject(path, true)) return nullptr;
    const QString what = created ? tr("Created the default project %1").arg(path)
                                 : tr("Runs go to the default project %1").arg(path);
    m_jobs->log(plugins::LogLevel::Info, what + tr(" (File ▸ New Project… for another)"));
    m_window->statusBar()->showMessage(what, 8000);
    return m_project;
}

void ExperimentController::showRunResult(qint64 id) {
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
        m_context->setQuantResult(core::storedQuantResult(*m_project, id, m_context->registries()));
    } catch (const std::exception& e) {
        m_jobs->log(plugins::LogLevel::Warning, tr("Run %1: %2").arg(id).arg(QString::fromStdString(e.what())));
    }
}

bool ExperimentController::loadRunIntoForm(qint64 id, QString* error) {
    try {
        const auto run = m_project ? m_project->run(id) : std::nullopt;
        if (!run) throw std::runtime_error(tr("run %1 is not in the open project").arg(id).toStdString());
        const core::Recipe recipe =
            core::recipeFromJson(nlohmann::json::parse(run->recipe), m_context->registries(), "run " + std::to_string(id));
        m_panel->loadRecipe(recipe);
        QString why;
        const auto loaded = m_panel->currentRecipe(&why);
        if (!loaded) throw std::runtime_error(why.toStdString());
        // The form has no spelling for a few fields (an MSE-scaled activation spec): say so, never differ silently.
        if (loaded->canonical() != recipe.canonical())
            throw std::runtime_error(tr("run %1's recipe has fields the form cannot show; the form holds %2")
                                         .arg(id)
                                         .arg(QString::fromStdString(loaded->label()))
                                         .toStdString());
        m_jobs->log(plugins::LogLevel::Info,
                    tr("Loaded run %1's recipe into the form: %2").arg(id).arg(QString::fromStdString(recipe.label())));
        return true;
    } catch (const std::exception& e) {
        if (error) *error = tr("Load into form: %1").arg(QString::fromStdString(e.what()));
        return false;
    }
}

void ExperimentController::closeProject() {
    if (!m_project) return;
    m_project.reset(); // a running job keeps its own reference until it ends
    QSettings().remove(kLastProjectKey);
    m_context->setProjectPath({});
    updateProjectLabel();
}

void ExperimentController::restoreLastProject() {
    const QString last = QSettings().value(kLastProjectKey).toString();
    if (last.isEmpty()) return;
    if (!QFileInfo::exists(last)) {
        QSettings().remove(kLastProjectKey);
        return;
    }
    openProject(last, false);
}

void ExperimentController::chooseNewProject() {
    QSettings settings;
    const QString dir = settings.value(kLastProjectDirKey, QDir::homePath()).toString();
    QString path =
        QFileDialog::getSaveFileName(m_window, tr("New project"), dir + QStringLiteral("/experiments.qsproj"),
                                     tr("QuantScope projects (*.qsproj)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(QLatin1String(".qsproj"))) path += QStringLiteral(".qsproj");
    settings.setValue(kLastProjectDirKey, QFileInfo(path).absolutePath());
    openProject(path, true);
}

void ExperimentController::chooseOpenProject() {
    QSettings settings;
    const QString dir = settings.value(kLastProjectDirKey, QDir::homePath()).toString();
    const QString path =
        QFileDialog::getOpenFileName(m_window, tr("Open project"), dir, tr("QuantScope projects (*.qsproj)"));
    if (path.isEmpty()) return;
    settings.setValue(kLastProjectDirKey, QFileInfo(path).absolutePath());
    openProject(path, false);
}

void ExperimentController::updateProjectLabel() {
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

void ExperimentController::setEvaluationData(const QString& path) {
    setData(DataKind::Evaluation, path);
}

void ExperimentController::setCalibrationData(const QString& path) {
    setData(DataKind::Calibration, path);
}

void ExperimentController::setLabelsData(const QString& path) {
    setData(DataKind::Labels, path);
}

void ExperimentController::setData(DataKind kind, const QString& path) {
    const QString abs = path.isEmpty() ? QString() : QFileInfo(path).absoluteFilePath();
    plugins::ChosenData data = m_context->data();
    const char* key = "eval";
    switch (kind) {
    case DataKind::Evaluation:
        data.evaluation = abs;
        break;
    case DataKind::Calibration:
        data.calibration = abs;
        key = "calib";
        break;
    case DataKind::Labels:
        data.labels = abs;
        key = "labels";
        break;
    }
    if (const auto& model = m_context->model())
        QSettings().setValue(modelDataKey(QString::fromStdString(model->path().string()), key), abs);
    m_context->setData(data);
}

bool ExperimentController::isClassifierOpen() const {
    const auto& model = m_context->model();
    return model && core::isClassifierModel(*model);
}

void ExperimentController::loadModelData() {
    const auto& model = m_context->model();
    if (!model) return;
    const QString modelPath = QString::fromStdString(model->path().string());
    QSettings settings;
    plugins::ChosenData data = m_context->data();
    // A model without remembered data keeps the current choice (and remembers it from now on).
    const QString evalKey = modelDataKey(modelPath, "eval"), calibKey = modelDataKey(modelPath, "calib");
    const QString sample = QFileInfo(modelPath).isDir() ? modelPath + QStringLiteral("/sample.txt") : QString();
    if (settings.contains(evalKey)) {
        data.evaluation = settings.value(evalKey).toString();
    } else if (!sample.isEmpty() && QFileInfo::exists(sample)) {
        // A model that ships its own sample text (the demo does) is evaluated on it until the user
        // chooses other data, so a first Evaluate works at once.
        data.evaluation = QFileInfo(sample).absoluteFilePath();
        settings.setValue(evalKey, data.evaluation);
        m_jobs->log(plugins::LogLevel::Info, tr("Evaluation data: %1, shipped with the model").arg(data.evaluation));
    } else if (!data.evaluation.isEmpty()) {
        settings.setValue(evalKey, data.evaluation);
    }
    if (settings.contains(calibKey))
        data.calibration = settings.value(calibKey).toString();
    else if (!data.calibration.isEmpty())
        settings.setValue(calibKey, data.calibration);
    data.labels = settings.value(modelDataKey(modelPath, "labels")).toString();
    m_context->setData(data);
    updateDataMenu(); // the Labels entry follows the kind of model even when the data stays
}

QString ExperimentController::dataDialogStart() const {
    if (const auto& model = m_context->model()) {
        const QFileInfo info(QString::fromStdString(model->path().string()));
        return info.isDir() ? info.absoluteFilePath() : info.absolutePath();
    }
    return QSettings().value(kLastDataDirKey, QDir::homePath()).toString();
}

void ExperimentController::chooseData(DataKind kind) {
    QSettings settings;
    const QString dir = dataDialogStart();
    const bool classifier = isClassifierOpen();
    const QString title = kind == DataKind::Labels        ? tr("Labels")
                          : kind == DataKind::Calibration ? tr("Calibration data")
                                                          : tr("Evaluation data");
    const QString filter = classifier ? tr("Arrays (*.npy *.h5 *.hdf5);;All files (*)")
                                      : tr("Text or token ids (*.txt *.npy);;All files (*)");
    QString path = QFileDialog::getOpenFileName(m_window, title, dir, filter);
    if (path.isEmpty()) return;
    settings.setValue(kLastDataDirKey, QFileInfo(path).absolutePath());
    // An HDF5 file holds several arrays: the data spec names one, FILE.h5:DATASET.
    if (path.endsWith(QLatin1String(".h5")) || path.endsWith(QLatin1String(".hdf5"))) {
        bool ok = false;
        const QString dataset = QInputDialog::getText(m_window, title, tr("Dataset in %1:").arg(fileName(path)),
                                                      QLineEdit::Normal, QString(), &ok);
        if (!ok || dataset.trimmed().isEmpty()) return;
        path += QLatin1Char(':') + dataset.trimmed();
    }
    setData(kind, path);
}

void ExperimentController::updateDataMenu() {
    const QString eval = evaluationData(), calib = calibrationData(), labels = labelsData();
    m_evalDataAction->setText(eval.isEmpty() ? tr("Evaluation data…")
                                                   : tr("Evaluation data: %1…").arg(fileName(eval)));
    m_evalDataAction->setToolTip(eval.isEmpty() ? tr("Text or token .npy for perplexity") : eval);
    m_calibDataAction->setText(calib.isEmpty()
                                   ? tr("Calibration data…")
                                   : tr("Calibration data: %1…").arg(fileName(calib)));
    m_calibDataAction->setToolTip(calib.isEmpty()
                                      ? tr("Text or token .npy for calibrated methods (GPTQ) and transforms; "
                                           "a classifier: images for static activation scales")
                                      : calib);
    m_labelsDataAction->setText(labels.isEmpty() ? tr("Labels…")
                                                       : tr("Labels: %1…").arg(fileName(labels)));
    m_labelsDataAction->setToolTip(
        tr("A classifier's labels of the evaluation images (Y.npy or FILE.h5:DATASET)"));
    m_labelsDataAction->setEnabled(isClassifierOpen());
    // The button says what runs: the evaluation file, and the calibration file when one is chosen.
    const auto shortName = [](const QString& path) {
        return QFontMetrics(QFont()).elidedText(fileName(path), Qt::ElideMiddle, 180);
    };
    QString text = eval.isEmpty() ? tr("Data: none") : tr("Data: %1").arg(shortName(eval));
    if (!calib.isEmpty()) text += tr(" · calib %1").arg(shortName(calib));
    m_dataButton->setText(text);
    QStringList tip{tr("Evaluation: %1").arg(eval.isEmpty() ? tr("none (Evaluate and Sweep need it)") : eval),
                    tr("Calibration: %1").arg(calib.isEmpty() ? tr("none (GPTQ, AWQ, DGQ, SmoothQuant need it)") : calib)};
    if (isClassifierOpen()) tip << tr("Labels: %1").arg(labels.isEmpty() ? tr("none") : labels);
    m_dataButton->setToolTip(tip.join(QLatin1Char('\n')));
}

// ---------------------------------------------------------------------------------------------
// Recipe and settings

core::RecipeRunTarget ExperimentController::runTarget() const {
    core::RecipeRunTarget t;
    t.model = m_context->model();
    t.data = evaluationData().toStdString();
    if (isClassifierOpen()) t.labels = labelsData().toStdString();
    t.eval = m_panel->evalOptions();
    return t;
}

std::optional<ExperimentController::Refusal> ExperimentController::refusal(Job job) const {
    if (!m_context->model()) return Refusal{tr("Open a model first (File ▸ Open model…)"), {}};
    if (m_jobs->isRunning()) return Refusal{tr("A job is running: wait for it or press Cancel in the Jobs dock"), {}};
    if (job != Job::Sweep) {
        QString error;
        const std::optional<core::Recipe> recipe = m_panel->currentRecipe(&error);
        if (!recipe) return Refusal{error, {}};
        if (core::recipeNeedsCalibration(*recipe, m_context->registries()) && calibrationData().isEmpty())
            return Refusal{tr("%1 needs calibration data (toolbar ▸ Data ▸ Calibration data…)")
                               .arg(QString::fromStdString(recipe->label())),
                           DataKind::Calibration};
    }
    if (job != Job::Run) {
        if (evaluationData().isEmpty())
            return Refusal{tr("no evaluation data is chosen (toolbar ▸ Data ▸ Evaluation data…)"), DataKind::Evaluation};
        if (isClassifierOpen() && labelsData().isEmpty())
            return Refusal{tr("A classifier is scored against labels: choose them (toolbar ▸ Data ▸ Labels…)"),
                           DataKind::Labels};
    }
    return std::nullopt;
}

} // namespace qs::gui
