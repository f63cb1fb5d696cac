// SPDX-License-Identifier: MIT
#include "experiment_controller.h"

#include "data/calib_data.h"
#include "experiment/run_export.h"
#include "param_form.h"
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

void ExperimentController::chooseExportReport() {
    if (!m_project) {
        refuse(tr("Open a project first (File ▸ Open Project…)"));
        return;
    }
    // Which run to feature and which sections, then where.
    QDialog dialog(m_window);
    dialog.setWindowTitle(tr("Export report"));
    auto* form = new QFormLayout(&dialog);
    auto* runs = new QComboBox(&dialog);
    runs->setObjectName(QStringLiteral("reportRunCombo"));
    runs->addItem(tr("picked by the report (fewest bits within 5% of fp32)"), 0);
    try {
        for (const auto& r : m_project->runs())
            if (r.status == "finished" && r.recipe != "{}")
                runs->addItem(tr("run %1: %2").arg(r.id).arg(QString::fromStdString(r.recipeLabel)), qint64(r.id));
    } catch (const std::exception&) {
        // an unreadable project fails below with its reason
    }
    runs->setCurrentIndex(std::max(0, runs->findData(m_context->selectedRunId())));
    form->addRow(tr("Featured run"), runs);
    std::vector<std::pair<std::string, QCheckBox*>> boxes;
    for (const auto& [key, title] : report::reportSections()) {
        auto* box = new QCheckBox(title, &dialog);
        box->setChecked(true);
        boxes.emplace_back(key, box);
        form->addRow(boxes.size() == 1 ? tr("Sections") : QString(), box);
    }
    auto* paretoBy = new QComboBox(&dialog);
    paretoBy->addItem(tr("per method"));
    paretoBy->addItem(tr("per format"));
    form->addRow(tr("Pareto colours"), paretoBy);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    form->addRow(buttons);
    if (dialog.exec() != QDialog::Accepted) return;
    std::set<std::string> sections;
    for (const auto& [key, box] : boxes)
        if (box->isChecked()) sections.insert(key);
    if (sections.empty()) {
        refuse(tr("Export report: tick at least one section"));
        return;
    }
    if (sections.size() == boxes.size()) sections.clear(); // all
    const QString dir = QFileInfo(QString::fromStdString(m_project->path().string())).absolutePath();
    const QString stem = QFileInfo(QString::fromStdString(m_project->path().string())).completeBaseName();
    const QString out = QFileDialog::getSaveFileName(m_window, tr("Export report"),
                                                     dir + QLatin1Char('/') + stem + QStringLiteral("-report.html"),
                                                     tr("HTML report (*.html);;PDF report (*.pdf)"));
    if (out.isEmpty()) return;
    QString error;
    const qint64 run = runs->currentData().toLongLong();
    if (!exportReport(out, &error, run ? std::optional<qint64>(run) : std::optional<qint64>(0), sections,
                      paretoBy->currentIndex() == 1))
        m_window->statusBar()->showMessage(error, 10000);
}

void ExperimentController::chooseExportRun() {
    const qint64 id = m_context->selectedRunId();
    if (!m_project || id == 0) {
        refuse(tr("Select a run in Runs or on the Pareto chart first"));
        return;
    }
    QStringList kinds;
    for (const auto& k : core::exportKindNames()) kinds << QString::fromStdString(k);
    bool ok = false;
    const QString kind = QInputDialog::getItem(m_window, tr("Export run %1").arg(id), tr("Write the run as:"), kinds, 0,
                                               false, &ok);
    if (!ok) return;
    // Beside the project, named after the run.
    const QString dir = QFileInfo(QString::fromStdString(m_project->path().string())).absolutePath();
    const QString stem = QStringLiteral("%1/run-%2").arg(dir).arg(id);
    const QString suggested = kind == QLatin1String("recipe")            ? stem + QStringLiteral(".recipe.json")
                              : kind == QLatin1String("llama-overrides") ? stem + QStringLiteral(".tensor-types.txt")
                              : kind == QLatin1String("gguf")            ? stem + QStringLiteral(".gguf")
                                                                         : stem + QLatin1Char('-') + kind;
    const QString out = QFileDialog::getSaveFileName(m_window, tr("Export run %1 as %2").arg(id).arg(kind), suggested);
    if (!out.isEmpty()) exportRun(id, out, kind);
}

bool ExperimentController::exportRun(qint64 id, const QString& out, const QString& kind, const QString& ggufType) {
    if (!m_project) return refuse(tr("Open a project first (File ▸ Open Project…)"));
    if (m_jobs->isRunning()) return refuse(tr("A job is running: wait for it or press Cancel in the Jobs dock"));
    const std::shared_ptr<core::Project> project = m_project;
    const core::Registries& registries = m_context->registries();
    const std::string path = out.toStdString(), as = kind.toStdString(), type = ggufType.toStdString();
    auto result = std::make_shared<nlohmann::json>();
    auto work = [project, id, path, as, type, &registries, result](const core::JobContext& ctx) -> std::function<void()> {
        *result = core::exportStoredRun(*project, id, as, type, registries, path, ctx);
        return {};
    };
    plugins::JobService* jobs = m_jobs;
    auto onEnd = [jobs, result, id, kind](plugins::JobState state, const QString& seconds) {
        if (state != plugins::JobState::Succeeded) return;
        QString text = tr("Exported run %1 (%2) as %3 to %4 in %5 s")
                           .arg(id)
                           .arg(QString::fromStdString(result->value("label", "")), kind,
                                QString::fromStdString(result->value("out", "")), seconds);
        if (result->contains("unmapped") && !(*result)["unmapped"].empty())
            text += tr("; %n layer(s) have no GGUF type (see the tensor-types file)", nullptr,
                       static_cast<int>((*result)["unmapped"].size()));
        jobs->report(text);
    };
    return m_jobs->start({tr("Export run %1 as %2").arg(id).arg(kind), tr("Export"), tr("step"), work, onEnd});
}

bool ExperimentController::exportReport(const QString& out, QString* error, std::optional<qint64> run,
                                        const std::set<std::string>& sections, bool paretoByFormat) {
    QString why;
    if (!m_project) {
        why = tr("no project is open");
    } else {
        // The report renders its plots with widgets, so it runs here on the GUI thread (seconds at most).
        QApplication::setOverrideCursor(Qt::WaitCursor);
        report::ReportOptions options;
        const qint64 featured = run.value_or(m_context->selectedRunId());
        if (featured) options.runId = featured;
        options.chosenBy = QStringLiteral("in the GUI");
        options.sections = sections;
        options.paretoByFormat = paretoByFormat;
        const bool ok = report::writeReport(m_project->path(), out.toStdString(), options, &why);
        QApplication::restoreOverrideCursor();
        if (ok) {
            m_jobs->log(plugins::LogLevel::Info, tr("Report written to %1").arg(out));
            return true;
        }
    }
    why = tr("Export report: %1").arg(why);
    m_jobs->log(plugins::LogLevel::Error, why);
    if (error) *error = why;
    return false;
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

// QSettings key of the Sweep dialog's ticks for a project (hashed: keys keep no slashes).
static QString sweepTicksKey(const QString& projectPath) {
    return QStringLiteral("sweepTicks/") +
           QString::fromLatin1(QCryptographicHash::hash(projectPath.toUtf8(), QCryptographicHash::Md5).toHex());
}

SweepSelection ExperimentController::sweepDialogStart() const {
    const SweepSelection current = currentSweepSelection();
    const QString saved = QSettings().value(sweepTicksKey(m_context->projectPath())).toString();
    if (saved.isEmpty()) return current;
    const nlohmann::json ticks = nlohmann::json::parse(saved.toStdString(), nullptr, false);
    return withSweepTicks(current, ticks);
}

void ExperimentController::rememberSweepTicks(const SweepSelection& selection) {
    QSettings().setValue(sweepTicksKey(m_context->projectPath()), QString::fromStdString(sweepTicksJson(selection).dump()));
}

void ExperimentController::showSweepDialog() {
    SweepDialog dialog(m_context->registries(), m_window);
    dialog.setSelection(sweepDialogStart());
    const auto no = refusal(Job::Sweep);
    dialog.setProjectInfo([this](const std::vector<core::SweepPoint>& p) { return countExistingRuns(p); },
                          no ? no->why : QString());
    const bool accepted = dialog.exec() == QDialog::Accepted;
    rememberSweepTicks(dialog.selection());
    if (accepted) runSweep(dialog.grid());
}

bool ExperimentController::runSweep(const nlohmann::json& grid) {
    if (const auto no = refusal(Job::Sweep)) return refuse(no->why);
    const core::Registries& registries = m_context->registries();
    std::vector<core::SweepPoint> points;
    try {
        points = core::expandGrid(grid, registries);
    } catch (const std::exception& e) {
        return refuse(QString::fromStdString(e.what()));
    }
    core::SweepOptions options;
    options.model = m_context->model()->path();
    options.data = evaluationData().toStdString();
    if (isClassifierOpen()) options.labels = labelsData().toStdString();
    options.eval = m_panel->evalOptions();
    options.jobs = 1; // one recipe at a time, each using every thread (the machine is shared)
    options.commandLine = "quantscope (GUI) sweep --grid '" + grid.dump() + "'";
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
