// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/builtins.h"

#include <QMainWindow>
#include <QString>
#include <QStringList>
#include <quantscope/plugin/job_service.h>
#include <quantscope/plugin/plugin_manager.h>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QDockWidget;
class QLabel;
class QMenu;
class QMimeData;
class QTabWidget;

namespace qs::gui {

class ExperimentController;
class JobsDock;
class ParametersPanel;

/// The window a user lives in, and only its layout: the "Model" dock (layer table), central tabs of
/// view plugins, the "Parameters" dock (ParametersPanel, the one editor of the current recipe), the
/// "Jobs" dock (JobsDock over the context's job service), the toolbar and menus. The workflow — project,
/// data, Run ▶, Evaluate, Sweep, report — is the ExperimentController's; opening models is the window's.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    /// A window over `registries` (methods, formats) and the views of `plugins`; both must outlive it.
    MainWindow(const core::Registries& registries, plugins::PluginManager& plugins,
               QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens a model (a Hugging Face directory — a config.json or .safetensors file means its
    /// directory —, a .gguf or an .onnx file) in the background: reads it and computes every weight's
    /// statistics. A running job is cancelled first.
    void openModel(const QString& path);
    /// Asks the running job to stop (and forgets a model waiting to open).
    void cancelJob();
    /// Help ▸ Getting started: the five steps from a model to a compared recipe (non-modal).
    void showGettingStarted();

    /// The shared state and services of every view.
    plugins::ViewContext* viewContext() const { return m_context; }
    /// The job service (the context's).
    plugins::JobService* jobs() const { return m_context->jobs(); }
    /// The Parameters panel, the Jobs dock and the experiment workflow.
    ParametersPanel* parameters() const { return m_parameters; }
    JobsDock* jobsDock() const { return m_jobsDock; }
    ExperimentController* experiments() const { return m_experiments; }
    /// The view created from a plugin, nullptr when none.
    QWidget* view(const QString& pluginId) const;
    /// Brings a plugin's view to the front (its tab, or its dock); false when there is none.
    bool showView(const QString& pluginId);
    /// Recently opened models, newest first (at most 10, persisted).
    QStringList recentModels() const;
    /// The status-bar label with the current result's bits per weight.
    QLabel* bitsLabel() const { return m_bitsLabel; }

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
    /// Applies the default dock sizes on the first show when no saved layout was restored.
    void showEvent(QShowEvent* event) override;
    /// Accepts a dragged model directory or config.json.
    void dragEnterEvent(QDragEnterEvent* event) override;
    /// Opens a dropped model directory or config.json.
    void dropEvent(QDropEvent* event) override;

private:
    void createMenus();
    void createToolBar();
    void createDocks();
    void createViews();
    void restoreSettings();
    void saveSettings() const;
    void applyDefaultLayout();
    /// Moves a restored window whose screen is gone onto the primary screen, no larger than it.
    void ensureOnScreen();
    void chooseModel();
    void addRecent(const QString& path);
    void rebuildRecentMenu();
    void updateBitsLabel();
    void updateModelLabel();

    plugins::PluginManager& m_plugins;
    plugins::ViewContext* m_context;
    ParametersPanel* m_parameters;
    ExperimentController* m_experiments;
    JobsDock* m_jobsDock = nullptr;
    QString m_pendingOpen;
    bool m_defaultLayoutPending = false;

    QTabWidget* m_tabs = nullptr;
    std::vector<std::pair<QString, QWidget*>> m_views;
    QDockWidget* m_modelDock = nullptr;
    QDockWidget* m_paramsDock = nullptr;
    QAction* m_openAction = nullptr;
    QMenu* m_recentMenu = nullptr;
    QMenu* m_viewMenu = nullptr;
    QLabel* m_bitsLabel = nullptr;
    QLabel* m_modelLabel = nullptr;
};

} // namespace qs::gui
