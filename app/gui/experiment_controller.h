// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/recipe_run.h"
#include "experiment/sweep.h"
#include "sweep_predictions.h"
#include "store/project.h"

#include <QObject>
#include <QString>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <quantscope/plugin/job_service.h>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QAction;
class QLabel;
class QMainWindow;
class QMenu;
class QPushButton;
class QToolButton;

namespace qs::gui {

class ParametersPanel;
struct SweepSelection;

/// The experiment workflow of the window: the open project, the data chosen per model, and the jobs
/// that run the Parameters panel's recipe — Run ▶ (quantize and show per-layer errors), Evaluate,
/// Sweep…, the report — through the context's job service. Owns the workflow's actions, menus and
/// status-bar labels; the window only places them.
class ExperimentController : public QObject {
    Q_OBJECT
public:
    /// A controller of `window`'s workflow over `context` and `panel` (both outlive it).
    ExperimentController(QMainWindow* window, plugins::ViewContext* context, ParametersPanel* panel);
    ~ExperimentController() override;

    // --- Projects ---
    /// Opens a .qsproj (with `create`, a missing file becomes a new project), shares its path with the
    /// views (ViewContext::projectPath) and remembers it for the next start. False (logged) on error.
    bool openProject(const QString& path, bool create);
    /// The project Evaluate and Sweep store into: the open one, else the default project in the user's
    /// data folder (defaultProjectPath(), created on first use, named in the status bar). Null when it
    /// cannot be opened (the log says why; an Evaluate is then kept for the session).
    std::shared_ptr<core::Project> ensureProject();
    /// Reopens the project of the last session, if it still exists.
    void restoreLastProject();
    /// Closes the open project (results of Evaluate then stay in the session list).
    void closeProject();
    /// The open project, nullptr when none.
    core::Project* project() const { return m_project.get(); }
    /// $XDG_DATA_HOME/QuantScope/QuantScope/default.qsproj (QStandardPaths::AppDataLocation).
    static QString defaultProjectPath();
    /// The QSettings key of something remembered per file ("modelData/<hash of path>").
    static QString pathSettingsKey(const QString& group, const QString& path);
    /// Makes stored run `id` the current result everywhere (layer table columns, histograms, status
    /// bar): its per-layer figures from the project, when it is a finished run of the open model. The
    /// fp32 reference clears the result. Called when a view selects a run.
    void showRunResult(qint64 id);
    /// Puts stored run `id`'s recipe into the Parameters panel (and its rules into the layer table).
    /// False with `error` when the run is unknown or its recipe no longer validates.
    bool loadRunIntoForm(qint64 id, QString* error = nullptr);

    // --- Data (remembered per model; see ViewContext::data) ---
    QString evaluationData() const { return m_context->data().evaluation; }
    void setEvaluationData(const QString& path);
    QString calibrationData() const { return m_context->data().calibration; }
    void setCalibrationData(const QString& path);
    QString labelsData() const { return m_context->data().labels; }
    void setLabelsData(const QString& path);
    /// Restores the data remembered for the model just opened (the demo: its sample text).
    void loadModelData();
    /// True when the open model is an .onnx image classifier (Evaluate measures accuracy).
    bool isClassifierOpen() const;

    // --- Jobs ---
    /// Run ▶: quantizes the open model with the panel's recipe; the layer table fills as layers finish.
    /// False (with a status message) when there is no model, a job runs or the recipe is invalid.
    bool runQuantization();
    /// Evaluate: fp32 vs the current recipe on the evaluation data (perplexity, KLD, top-1, bits; a
    /// classifier: accuracy, argmax agreement, bits) through core::evaluateRecipe on the job thread;
    /// stored in the open project, else kept in sessionRuns(). False (with a status message) when it
    /// cannot start.
    bool evaluate();
    /// The latest Evaluate result of this session.
    const std::optional<core::RecipeRunOutcome>& lastEvaluation() const { return m_lastEvaluation; }
    /// Evaluate results of this session made without a project (not stored anywhere).
    const std::vector<core::RecipeRunOutcome>& sessionRuns() const { return m_sessionRuns; }
    /// The sweep dialog's starting ticks: the panel's method, format, granularity, group, sym.
    SweepSelection currentSweepSelection() const;
    /// What the Sweep… dialog opens with: the ticks it had when last closed (accepted or not) for the open
    /// project, else the panel's current choice; the recipe's rules and calibration are always the current ones.
    SweepSelection sweepDialogStart() const;
    /// Remembers the dialog's ticks in the open project (a project setting, so they travel with it; without
    /// a project, for the session).
    void rememberSweepTicks(const SweepSelection& selection);
    /// Opens the Sweep… dialog; runs the sweep when accepted. Its ticks are kept after Cancel too.
    void showSweepDialog();
    /// Runs core::runSweep over `grid` (core::expandGrid JSON) into the project on the job thread, its
    /// points in `order` by `predictions` (the predict analysis's). False (with a status message) when
    /// it cannot start.
    bool runSweep(const nlohmann::json& grid, core::SweepOrder order = core::SweepOrder::Grid,
                  const nlohmann::json& predictions = nlohmann::json::array());
    /// The Sweep dialog's predictor: the predict analysis of a grid's recipes, learning from the open
    /// project's runs of the open model, as a job (stored in the project, so the same grid re-opens).
    SweepPredictor sweepPredictor();
    /// Summary of the last finished sweep.
    const std::optional<core::SweepSummary>& lastSweep() const { return m_lastSweep; }
    /// Finished points of `points` the open project already holds for the open model and data.
    int countExistingRuns(const std::vector<core::SweepPoint>& points) const;
    /// File ▸ Export run…: writes stored run `id` (its recipe applied to its model) to `out` as `kind`
    /// (core::exportKindNames(); GGUF matrices in `ggufType`, "" = the recipe's default) on the job
    /// thread, through the same core function as `quantscope-cli export P --run ID`. False (with a status
    /// message) when it cannot start.
    bool exportRun(qint64 id, const QString& out, const QString& kind, const QString& ggufType = {});
    /// Writes the open project's report (".html" + PNG folder, or ".pdf") featuring `run` (default: the
    /// selected run; 0: the report's own pick) with `sections` (report::reportSections() keys; empty: all),
    /// its Pareto chart per method or per format; false with `error` on failure. Runs on the GUI thread
    /// (the report renders widgets).
    bool exportReport(const QString& out, QString* error = nullptr, std::optional<qint64> run = std::nullopt,
                      const std::set<std::string>& sections = {}, bool paretoByFormat = false);

    // --- What the window places ---
    QAction* runAction() const { return m_runAction; }
    QAction* evaluateAction() const { return m_evaluateAction; }
    QAction* sweepAction() const { return m_sweepAction; }
    QAction* reportAction() const { return m_reportAction; }
    QAction* exportRunAction() const { return m_exportRunAction; }
    /// New/Open/Close Project and Export report, for the File menu.
    QList<QAction*> projectActions() const { return m_projectActions; }
    /// The toolbar's Data button and its menu (evaluation, labels, calibration data); the button names
    /// the chosen files ("Data: sample.txt · calib.txt") so what runs is always in sight.
    QToolButton* dataButton() const { return m_dataButton; }
    QMenu* dataMenu() const { return m_dataMenu; }
    /// Where the data file dialogs start: beside the open model, else where data was last chosen.
    QString dataDialogStart() const;
    /// The Run menu (Run ▶, Evaluate, Sweep…, Cancel job).
    QMenu* runMenu() const { return m_runMenu; }
    /// The line above the Parameters dock that says why Run ▶ / Evaluate are off, with the one click
    /// that fixes it ("GPTQ needs calibration data" [Choose calibration data…]); hidden when they can run.
    QWidget* refusalBanner() const { return m_banner; }
    QLabel* refusalText() const { return m_bannerText; }
    QPushButton* refusalFix() const { return m_bannerFix; }
    /// Status-bar labels: the open project, the last evaluation.
    QLabel* projectLabel() const { return m_projectLabel; }
    QLabel* evaluationLabel() const { return m_evalLabel; }

private:
    enum class DataKind { Evaluation, Calibration, Labels };
    /// Why a job cannot start, in the window's words, and the data choice that fixes it (if one does).
    struct Refusal {
        QString why;
        std::optional<DataKind> fix;
    };
    enum class Job { Run, Evaluate, Sweep };
    /// Why `job` cannot start now; nullopt when it can.
    std::optional<Refusal> refusal(Job job) const;
    void createActions();
    void setData(DataKind kind, const QString& path);
    void chooseNewProject();
    void chooseOpenProject();
    void chooseExportReport();
    void chooseExportRun();
    void chooseData(DataKind kind);
    void updateDataMenu();
    void updateProjectLabel();
    void updateEvaluationLabel();
    void updateRunEnabled();
    void reportEvaluation(plugins::JobState state, const QString& seconds);
    void reportSweep(plugins::JobState state, const QString& seconds);
    /// Logs `why` as a warning and shows it in the status bar; returns false.
    bool refuse(const QString& why);
    core::RecipeRunTarget runTarget() const;

    QMainWindow* m_window;
    plugins::ViewContext* m_context;
    ParametersPanel* m_panel;
    plugins::JobService* m_jobs;
    std::shared_ptr<core::Project> m_project; ///< shared with running jobs (thread-safe)

    QAction* m_runAction = nullptr;
    QAction* m_evaluateAction = nullptr;
    QAction* m_sweepAction = nullptr;
    QAction* m_reportAction = nullptr;
    QAction* m_exportRunAction = nullptr;
    QList<QAction*> m_projectActions;
    QAction* m_evalDataAction = nullptr;
    QAction* m_calibDataAction = nullptr;
    QAction* m_labelsDataAction = nullptr;
    QMenu* m_dataMenu = nullptr;
    QToolButton* m_dataButton = nullptr;
    QMenu* m_runMenu = nullptr;
    QLabel* m_projectLabel = nullptr;
    QLabel* m_evalLabel = nullptr;
    QWidget* m_banner = nullptr;
    QLabel* m_bannerText = nullptr;
    QPushButton* m_bannerFix = nullptr;
    std::optional<DataKind> m_bannerFixKind;

    QString m_jobTarget; ///< what the running Evaluate / Sweep is called in its report
    std::optional<core::RecipeRunOutcome> m_lastEvaluation;
    std::vector<core::RecipeRunOutcome> m_sessionRuns;
    std::optional<core::SweepSummary> m_lastSweep;
    std::string m_sessionTicks; ///< the Sweep dialog's last ticks (JSON) when no project is open
};

} // namespace qs::gui
