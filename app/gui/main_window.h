// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/builtins.h"
#include "job_runner.h"
#include "store/project.h"
#include "experiment/recipe_run.h"
#include "experiment/sweep.h"

#include <QMainWindow>
#include <QString>
#include <QStringList>
#include <memory>
#include <optional>
#include <quantscope/plugin/plugin_manager.h>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QComboBox;
class QDockWidget;
class QGroupBox;
class QLabel;
class QLineEdit;
class QMenu;
class QMimeData;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSplitter;
class QTabWidget;
class QTimer;

namespace qs::gui {

class ParamForm;
class SweepDialog;
struct SweepSelection;

/// The window a user lives in: the "Model" dock (layer table), central tabs of view plugins, the
/// "Parameters" dock (forms built from the registries) and the "Jobs" dock (progress, cancel, log).
/// Long work (opening, quantizing) runs on a JobRunner thread; the GUI never blocks on it.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    /// Severity of a log line.
    enum class LogLevel { Info, Warning, Error };

    /// A window over `registries` (methods, formats) and the views of `plugins`; both must outlive it.
    MainWindow(const core::Registries& registries, plugins::PluginManager& plugins,
               QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens a model (a Hugging Face directory — a config.json or .safetensors file means its
    /// directory —, a .gguf or an .onnx file) in the background: reads it and computes every weight's
    /// statistics. A running job is cancelled first.
    void openModel(const QString& path);
    /// Starts quantizing the open model with the toolbar's method and the Parameters form.
    /// Returns false (with a status message) when there is no model, a job runs or the spec is invalid.
    bool runQuantization();
    /// Asks the running job to stop.
    void cancelJob();

    // --- Experiments (main_window_experiments.cpp) ---
    /// Opens a .qsproj (with `create`, a missing file becomes a new project), shares its path with the
    /// views (ViewContext::projectPath) and remembers it for the next start. False (logged) on error.
    bool openProject(const QString& path, bool create);
    /// The project Evaluate and Sweep store into: the open one, else the default project in the user's
    /// data folder (defaultProjectPath(), created on first use, named in the status bar). Null when it
    /// cannot be opened (the log says why; an Evaluate is then kept for the session).
    std::shared_ptr<core::Project> ensureProject();
    /// Makes stored run `id` the current result everywhere (layer table columns, histograms, status
    /// bar): its per-layer figures from the project, when it is a finished run of the open model. The
    /// fp32 reference clears the result. Called when a view selects a run.
    void showRunResult(qint64 id);
    /// $XDG_DATA_HOME/QuantScope/QuantScope/default.qsproj (QStandardPaths::AppDataLocation).
    static QString defaultProjectPath();
    /// Closes the open project (results of Evaluate then stay in the session list).
    void closeProject();
    /// The open project, nullptr when none.
    core::Project* project() const { return m_project.get(); }
    /// Evaluation data of the open model; remembered per model. A language model: text or token
    /// .npy; an .onnx classifier: images, "X.npy" or "FILE.h5:DATASET".
    QString evaluationData() const { return m_evalData; }
    void setEvaluationData(const QString& path);
    /// Calibration data, remembered per model: text or token .npy for calibrated methods and
    /// transforms; for a classifier the images that fix static activation scales.
    QString calibrationData() const { return m_calibData; }
    void setCalibrationData(const QString& path);
    /// Labels of a classifier's evaluation images ("Y.npy" or "FILE.h5:DATASET"); remembered per model.
    QString labelsData() const { return m_labelsData; }
    void setLabelsData(const QString& path);
    /// True when the open model is an .onnx image classifier (Evaluate measures accuracy).
    bool isClassifierOpen() const;
    /// The evaluation settings form: ctx, windows (0 = all), calib_windows.
    ParamForm* evalForm() const { return m_evalForm; }
    /// Activation / KV-cache fake quantization of the recipe ("int8:token"; empty = none).
    QLineEdit* actQuantEdit() const { return m_actQuantEdit; }
    QLineEdit* kvQuantEdit() const { return m_kvQuantEdit; }
    /// The recipe of the toolbar (transform + method) and the Parameters forms; nullopt with `error`
    /// when invalid.
    std::optional<core::Recipe> currentRecipe(QString* error = nullptr) const;
    /// The evaluation settings of the Parameters dock.
    core::EvalOptions evalOptions() const;
    /// Evaluate: fp32 vs the current recipe on the evaluation data (perplexity, KLD, top-1, bits; a
    /// classifier: accuracy, argmax agreement, bits) through core::evaluateRecipe on the job thread;
    /// stored in the open project, else kept in sessionRuns(). False (with a status message) when it
    /// cannot start.
    bool evaluate();
    /// The latest Evaluate result of this session.
    const std::optional<core::RecipeRunOutcome>& lastEvaluation() const { return m_lastEvaluation; }
    /// Evaluate results of this session made without a project (not stored anywhere).
    const std::vector<core::RecipeRunOutcome>& sessionRuns() const { return m_sessionRuns; }
    /// The sweep dialog's starting ticks: the window's current method, format, granularity, group, sym.
    SweepSelection currentSweepSelection() const;
    /// Opens the Sweep… dialog; runs the sweep when accepted.
    void showSweepDialog();
    /// Runs core::runSweep over `grid` (core::expandGrid JSON) into the open project on the job
    /// thread. False (with a status message) when it cannot start.
    bool runSweep(const nlohmann::json& grid);
    /// Summary of the last finished sweep.
    const std::optional<core::SweepSummary>& lastSweep() const { return m_lastSweep; }
    /// Finished points of `points` the open project already holds for the open model and data.
    int countExistingRuns(const std::vector<core::SweepPoint>& points) const;
    /// Writes the open project's report (".html" + PNG folder, or ".pdf") for the selected run;
    /// false with `error` on failure. Runs on the GUI thread (the report renders widgets).
    bool exportReport(const QString& out, QString* error = nullptr);
    /// Actions of the experiment workflow.
    QAction* evaluateAction() const { return m_evaluateAction; }
    QAction* sweepAction() const { return m_sweepAction; }
    QAction* reportAction() const { return m_reportAction; }
    /// Status-bar labels: the open project, the last evaluation.
    QLabel* projectLabel() const { return m_projectLabel; }
    QLabel* evaluationLabel() const { return m_evalLabel; }

    /// The shared state of every view.
    plugins::ViewContext* viewContext() const { return m_context; }
    /// The background job runner.
    JobRunner* jobRunner() const { return m_jobs; }
    /// The form of the weight spec (format, granularity, group, sym).
    ParamForm* specForm() const { return m_specForm; }
    /// The form of the chosen method's own parameters.
    ParamForm* methodForm() const { return m_methodForm; }
    /// Chooses a registered method by name; false when unknown.
    bool setMethod(const QString& name);
    /// The form of the chosen transform's parameters (empty for none).
    ParamForm* transformForm() const { return m_transformForm; }
    /// Chooses the transform applied before the method: a registered transform's name, or empty for
    /// none; false when unknown.
    bool setTransform(const QString& name);
    /// The chosen transform's name, empty for none.
    QString transform() const;
    /// The view created from a plugin, nullptr when none.
    QWidget* view(const QString& pluginId) const;
    /// Recently opened models, newest first (at most 10, persisted).
    QStringList recentModels() const;
    /// The status-bar label with the last run's bits per weight.
    QLabel* bitsLabel() const { return m_bitsLabel; }
    /// The job status line ("RTN layer 12/28 · 00:41 left").
    QLabel* jobStatusLabel() const { return m_jobStatus; }
    /// The log of the Jobs dock.
    QPlainTextEdit* logView() const { return m_log; }
    /// Adds a time-stamped line to the log.
    void appendLog(LogLevel level, const QString& text);

    /// Most entries kept in File ▸ Open Recent.
    static constexpr int kMaxRecent = 10;
    /// The model directory a dropped file or folder stands for, empty when it is none.
    static QString modelPathFromMime(const QMimeData* mime);

signals:
    /// A model finished opening (its layer table is filled).
    void modelOpened(const QString& path);

protected:
    /// Cancels a running job, waits for it and saves the window's layout.
    void closeEvent(QCloseEvent* event) override;
    /// Accepts a dragged model directory or config.json.
    void dragEnterEvent(QDragEnterEvent* event) override;
    /// Opens a dropped model directory or config.json.
    void dropEvent(QDropEvent* event) override;

private:
    /// What a started job does when it ends, set by whoever starts it (no ladder over job kinds):
    /// `what` names it in cancel/failure messages, `onEnd` reports or cleans up for any end state.
    struct JobEnd {
        QString what;
        std::function<void(JobState state, const QString& seconds)> onEnd;
    };
    /// Starts a job through m_jobs with its end handler.
    bool startJob(JobEnd end, const QString& title, const QString& unit, JobRunner::Work work);

    void createActions();
    void createToolBar();
    void createDocks();
    void createViews();
    void restoreSettings();
    void saveSettings() const;
    void applyDefaultLayout();
    void chooseModel();
    void addRecent(const QString& path);
    void rebuildRecentMenu();
    void onMethodChanged();
    void onTransformChanged();
    void onSpecValueChanged(const QString& name);
    void onCurrentSpecChanged();
    void updateExplanation();
    void updateRunEnabled();
    void onJobStarted();
    void onJobProgress(long long done, long long total, const QString& message);
    void onJobFinished(JobState state, const QString& message);
    void updateJobStatus();
    void updateBitsLabel();
    void updateModelLabel();
    QString specError() const;
    // main_window_experiments.cpp
    void createExperimentActions(QMenu* file);
    void createEvalForm(QWidget* params, QLayout* layout);
    void restoreLastProject();
    void chooseNewProject();
    void chooseOpenProject();
    void chooseExportReport();
    enum class DataKind { Evaluation, Calibration, Labels };
    void chooseData(DataKind kind);
    void loadModelData();
    void updateDataMenu();
    void updateProjectLabel();
    void updateEvaluationLabel();
    void reportEvaluation(JobState state, const QString& seconds);
    void reportSweep(JobState state, const QString& seconds);
    bool needsCalibration() const;
    QString notRunnableReason() const;
    core::RecipeRunTarget runTarget() const;

    const core::Registries& m_registries;
    plugins::PluginManager& m_plugins;
    plugins::ViewContext* m_context;
    JobRunner* m_jobs;
    JobEnd m_jobEnd; ///< of the running job
    QString m_jobTarget; ///< the path being opened / the spec being run
    QString m_pendingOpen;

    QTabWidget* m_tabs = nullptr;
    std::vector<std::pair<QString, QWidget*>> m_views;
    QDockWidget* m_modelDock = nullptr;
    QDockWidget* m_paramsDock = nullptr;
    QDockWidget* m_jobsDock = nullptr;
    QSplitter* m_jobsSplitter = nullptr;

    QAction* m_openAction = nullptr;
    QAction* m_runAction = nullptr;
    QMenu* m_recentMenu = nullptr;
    QMenu* m_viewMenu = nullptr;
    QComboBox* m_transformCombo = nullptr;
    QComboBox* m_methodCombo = nullptr;
    QComboBox* m_formatCombo = nullptr;
    QComboBox* m_granularityCombo = nullptr;

    ParamForm* m_specForm = nullptr;
    ParamForm* m_methodForm = nullptr;
    QGroupBox* m_methodBox = nullptr;
    QLabel* m_methodNote = nullptr;
    ParamForm* m_transformForm = nullptr;
    QGroupBox* m_transformBox = nullptr;
    QLabel* m_transformNote = nullptr;
    QLabel* m_explanation = nullptr;
    bool m_applyingSpec = false; ///< the form is being set from ViewContext::currentSpec()

    QProgressBar* m_progress = nullptr;
    QLabel* m_jobStatus = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QPlainTextEdit* m_log = nullptr;
    QTimer* m_statusTimer = nullptr;
    QString m_jobMessage;

    QLabel* m_bitsLabel = nullptr;
    QLabel* m_modelLabel = nullptr;

    // Experiments
    std::shared_ptr<core::Project> m_project; ///< shared with running jobs (thread-safe)
    QString m_evalData, m_calibData, m_labelsData;
    ParamForm* m_evalForm = nullptr;
    QLineEdit* m_actQuantEdit = nullptr;
    QLineEdit* m_kvQuantEdit = nullptr;
    QAction* m_evaluateAction = nullptr;
    QAction* m_sweepAction = nullptr;
    QAction* m_reportAction = nullptr;
    QAction* m_evalDataAction = nullptr;
    QAction* m_calibDataAction = nullptr;
    QAction* m_labelsDataAction = nullptr;
    QMenu* m_dataMenu = nullptr;
    QLabel* m_projectLabel = nullptr;
    QLabel* m_evalLabel = nullptr;
    std::optional<core::RecipeRunOutcome> m_lastEvaluation;
    std::vector<core::RecipeRunOutcome> m_sessionRuns;
    std::optional<core::SweepSummary> m_lastSweep;
};

} // namespace qs::gui
