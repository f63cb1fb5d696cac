// SPDX-License-Identifier: MIT
#include "main_window.h"

#include "experiment_controller.h"
#include "jobs_dock.h"
#include "parameters_panel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QGuiApplication>
#include <QScreen>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

namespace qs::gui {
namespace {

const QString kRecentKey = QStringLiteral("recentModels");
const QString kLastDirKey = QStringLiteral("lastModelDir");

QString qstr(std::string_view s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QString formatCount(std::int64_t n) {
    const QLocale en(QLocale::English);
    if (n >= 1'000'000'000) return en.toString(static_cast<double>(n) / 1e9, 'f', 2) + QStringLiteral(" B");
    if (n >= 1'000'000) return en.toString(static_cast<double>(n) / 1e6, 'f', 2) + QStringLiteral(" M");
    return en.toString(static_cast<qlonglong>(n));
}

} // namespace

MainWindow::MainWindow(const core::Registries& registries, plugins::PluginManager& plugins, QWidget* parent)
    : QMainWindow(parent), m_plugins(plugins), m_context(new plugins::ViewContext(registries, this)),
      m_parameters(new ParametersPanel(m_context)), m_experiments(new ExperimentController(this, m_context, m_parameters)) {
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(QStringLiteral("QuantScope"));
    setAcceptDrops(true);
    setDockOptions(AnimatedDocks | AllowTabbedDocks | AllowNestedDocks);
    setCorner(Qt::BottomLeftCorner, Qt::BottomDockWidgetArea);
    setCorner(Qt::BottomRightCorner, Qt::BottomDockWidgetArea);

    createMenus();
    createToolBar();
    createDocks();
    createViews();

    connect(m_context, &plugins::ViewContext::modelChanged, this, &MainWindow::updateModelLabel);
    connect(m_context, &plugins::ViewContext::quantResultChanged, this, &MainWindow::updateBitsLabel);
    connect(jobs(), &plugins::JobService::finished, this, [this](plugins::JobState state) {
        if (state == plugins::JobState::Failed) statusBar()->showMessage(jobs()->stopText(), 10000);
        if (!m_pendingOpen.isEmpty()) openModel(std::exchange(m_pendingOpen, QString()));
    });

    m_bitsLabel = new QLabel(this);
    m_bitsLabel->setObjectName(QStringLiteral("bitsPerWeightLabel"));
    m_modelLabel = new QLabel(this);
    m_modelLabel->setObjectName(QStringLiteral("modelLabel"));
    statusBar()->addPermanentWidget(m_experiments->evaluationLabel());
    statusBar()->addPermanentWidget(m_experiments->projectLabel());
    statusBar()->addPermanentWidget(m_modelLabel);
    statusBar()->addPermanentWidget(m_bitsLabel);
    updateModelLabel();
    updateBitsLabel();
    restoreSettings();
    m_experiments->restoreLastProject();

    for (const QString& e : m_plugins.errors())
        jobs()->log(plugins::LogLevel::Warning, tr("view plugin: %1").arg(e));
    for (const auto& e : m_plugins.entries())
        if (e.source.startsWith(QLatin1Char('/')))
            jobs()->log(plugins::LogLevel::Info,
                        tr("Loaded view plugin '%1' from %2").arg(e.plugin->title(), e.source));
}

MainWindow::~MainWindow() = default;

// ---------------------------------------------------------------------------------------------
// Construction

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    m_openAction = file->addAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("&Open model…"));
    m_openAction->setShortcut(QKeySequence::Open);
    m_openAction->setToolTip(tr("Open a model: a Hugging Face directory (its config.json), a .gguf or an "
                                "ONNX classifier (.onnx)"));
    connect(m_openAction, &QAction::triggered, this, &MainWindow::chooseModel);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    rebuildRecentMenu();
    file->addSeparator();
    file->addActions(m_experiments->projectActions());
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"));
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, this, &QWidget::close);

    m_viewMenu = menuBar()->addMenu(tr("&View"));
    menuBar()->addMenu(m_experiments->runMenu());
    // The analyses' views, by what they answer.
    QMenu* analyze = menuBar()->addMenu(tr("&Analyze"));
    analyze->setObjectName(QStringLiteral("analyzeMenu"));
    const std::pair<const char*, QString> analyses[] = {
        {"sensitivity", tr("&Sensitivity and mixed precision")},
        {"landscape", tr("Loss &landscape and curvature")},
        {"spans", tr("&Attention spans")},
        {"predict", tr("&Predicted quality")},
        {"misalignment", tr("Local &vs global objective")},
        {"cost", tr("&Hardware cost")}};
    for (const auto& [id, text] : analyses) {
        QAction* a = analyze->addAction(text);
        a->setObjectName(QStringLiteral("analyze_") + QLatin1String(id));
        connect(a, &QAction::triggered, this, [this, id = QString::fromLatin1(id)] { showView(id); });
    }

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* start = help->addAction(tr("&Getting started"));
    start->setObjectName(QStringLiteral("gettingStartedAction"));
    start->setShortcut(QKeySequence::HelpContents);
    connect(start, &QAction::triggered, this, &MainWindow::showGettingStarted);
    connect(help->addAction(tr("&About QuantScope")), &QAction::triggered, this, [this] {
        QMessageBox::about(
            this, tr("About QuantScope"),
            tr("<h3>QuantScope %1</h3><p>A workbench for neural-network quantization: inspect a "
               "model's weights, quantize them with different formats and methods, and see "
               "what each choice costs in accuracy and bits.</p><p>MIT licence.</p>")
                .arg(QStringLiteral(QS_VERSION)));
    });
    connect(help->addAction(tr("About &Qt")), &QAction::triggered, qApp, &QApplication::aboutQt);
}

void MainWindow::createToolBar() {
    QToolBar* bar = addToolBar(tr("Main"));
    bar->setObjectName(QStringLiteral("mainToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->setMovable(false);
    bar->addAction(m_openAction);
    bar->addWidget(m_experiments->dataButton());
    bar->addSeparator();
    m_parameters->addToolBarControls(bar);
    bar->addSeparator();
    bar->addAction(m_experiments->runAction());
    bar->addAction(m_experiments->evaluateAction());
    bar->addAction(m_experiments->sweepAction());
    bar->addAction(m_experiments->reportAction());
}

void MainWindow::createDocks() {
    auto* scroll = new QScrollArea;
    scroll->setWidget(m_parameters);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    // Never narrower than the forms themselves (long explanations wrap; fields and labels cannot), so
    // nothing is cut off at the right edge.
    scroll->setMinimumWidth(m_parameters->minimumSizeHint().width() +
                            scroll->verticalScrollBar()->sizeHint().width());
    // Above the forms, where the eye goes when Run ▶ is greyed: why, and the click that fixes it.
    auto* params = new QWidget;
    auto* paramsLayout = new QVBoxLayout(params);
    paramsLayout->setContentsMargins(0, 0, 0, 0);
    paramsLayout->addWidget(m_experiments->refusalBanner());
    paramsLayout->addWidget(scroll, 1);
    m_paramsDock = new QDockWidget(tr("Parameters"), this);
    m_paramsDock->setObjectName(QStringLiteral("parametersDock"));
    m_paramsDock->setWidget(params);
    addDockWidget(Qt::RightDockWidgetArea, m_paramsDock);

    m_jobsDock = new JobsDock(jobs(), this);
    addDockWidget(Qt::BottomDockWidgetArea, m_jobsDock);
}

void MainWindow::createViews() {
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("viewTabs"));
    m_tabs->setDocumentMode(true);
    setCentralWidget(m_tabs);
    for (const auto& entry : m_plugins.entries()) {
        plugins::ViewPlugin* plugin = entry.plugin;
        QWidget* view = nullptr;
        if (plugin->area() == plugins::ViewArea::Model) {
            auto* dock = new QDockWidget(m_modelDock ? plugin->title() : tr("Model"), this);
            dock->setObjectName(QStringLiteral("dock_") + plugin->id());
            view = plugin->createView(m_context, dock);
            dock->setWidget(view);
            addDockWidget(Qt::LeftDockWidgetArea, dock);
            if (m_modelDock)
                tabifyDockWidget(m_modelDock, dock);
            else {
                m_modelDock = dock;
                m_modelDock->setObjectName(QStringLiteral("modelDock"));
            }
        } else {
            // In a scroll area, so a view's minimum width (a row of controls) never fixes the centre's:
            // widening the Model dock takes space from the centre, which scrolls if it must.
            auto* page = new QScrollArea(m_tabs);
            page->setWidgetResizable(true);
            page->setFrameShape(QFrame::NoFrame);
            view = plugin->createView(m_context, page);
            page->setWidget(view);
            page->setProperty("qsPluginId", plugin->id());
            m_tabs->addTab(page, plugin->title());
        }
        if (view) {
            view->setProperty("qsPluginId", plugin->id());
            m_views.emplace_back(plugin->id(), view);
        }
    }
    for (QDockWidget* dock : findChildren<QDockWidget*>(QString(), Qt::FindDirectChildrenOnly))
        m_viewMenu->addAction(dock->toggleViewAction());
    m_viewMenu->addSeparator();
    for (QToolBar* bar : findChildren<QToolBar*>(QString(), Qt::FindDirectChildrenOnly)) {
        QAction* toggle = bar->toggleViewAction();
        toggle->setText(tr("Toolbar"));
        m_viewMenu->addAction(toggle);
    }
}

void MainWindow::showGettingStarted() {
    if (auto* open = findChild<QDialog*>(QStringLiteral("gettingStarted"))) {
        open->raise();
        return;
    }
    auto* dialog = new QDialog(this);
    dialog->setObjectName(QStringLiteral("gettingStarted"));
    dialog->setWindowTitle(tr("Getting started"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    auto* text = new QLabel(dialog);
    text->setObjectName(QStringLiteral("gettingStartedText"));
    text->setWordWrap(true);
    text->setTextFormat(Qt::RichText);
    text->setText(tr(
        "<h3>Five steps from a model to a recipe you can defend</h3><ol>"
        "<li><b>Open a model</b>: File ▸ Open model… — a Hugging Face folder, a .gguf or an .onnx classifier "
        "(or drop it on the window). The demo opens at start.</li>"
        "<li><b>Choose data</b>: toolbar ▸ Data — evaluation text (a model's own sample.txt is chosen for you) and, "
        "for GPTQ, AWQ, DGQ and SmoothQuant, calibration text. The button shows what is chosen.</li>"
        "<li><b>Pick a recipe</b>: the toolbar's Transform, Method, Format and Granularity, with every detail in the "
        "Parameters dock. Right-click rows of the layer table to give layers their own format or keep them.</li>"
        "<li><b>Run ▶</b> quantizes and fills the layer table's error columns and the Histogram; "
        "<b>Evaluate</b> measures perplexity, KLD and bits against fp32 and stores the run in the project named "
        "in the status bar.</li>"
        "<li><b>Compare</b>: Runs and Pareto show every stored run — click one to see it in every view, "
        "right-click ▸ Load into form to start from it. Sweep… runs a grid; File ▸ Export run… and Export "
        "report… take the results out.</li></ol>"
        "<p>When an action is greyed, its tooltip and the line above the Parameters dock say why.</p>"));
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    auto* layout = new QVBoxLayout(dialog);
    layout->addWidget(text);
    layout->addWidget(buttons);
    dialog->resize(560, dialog->sizeHint().height());
    dialog->show();
}

// ---------------------------------------------------------------------------------------------
// Settings

void MainWindow::restoreSettings() {
    QSettings settings;
    const bool restored =
        restoreGeometry(settings.value(QStringLiteral("mainWindow/geometry")).toByteArray()) &&
        restoreState(settings.value(QStringLiteral("mainWindow/state")).toByteArray());
    if (restored) ensureOnScreen();
    if (!m_jobsDock->splitter()->restoreState(
            settings.value(QStringLiteral("mainWindow/jobsSplitter")).toByteArray()))
        m_jobsDock->splitter()->setSizes({520, 880});
    const QString tab = settings.value(QStringLiteral("mainWindow/currentView")).toString();
    for (int i = 0; i < m_tabs->count(); ++i)
        if (m_tabs->widget(i)->property("qsPluginId").toString() == tab) m_tabs->setCurrentIndex(i);
    if (!restored) {
        // 1440 x 900, or what fits a smaller screen.
        QSize size(1440, 900);
        if (const QScreen* screen = QGuiApplication::primaryScreen())
            size = size.boundedTo(screen->availableGeometry().size() * 95 / 100);
        resize(size);
        // Dock sizes need a shown, laid-out window: applied on the first show.
        m_defaultLayoutPending = true;
    }
}

void MainWindow::ensureOnScreen() {
    // A layout saved on a screen that is gone (a disconnected monitor): onto the primary screen, no larger
    // than it, centred. A window whose centre is on a screen stays where the user put it.
    if (QGuiApplication::screenAt(geometry().center()) || isMaximized() || isFullScreen()) return;
    QScreen* screen = QGuiApplication::primaryScreen();
    if (!screen) return;
    const QRect avail = screen->availableGeometry();
    const QSize size = geometry().size().boundedTo(avail.size() * 9 / 10);
    resize(size);
    move(avail.center() - QPoint(size.width() / 2, size.height() / 2));
}

void MainWindow::showEvent(QShowEvent* event) {
    QMainWindow::showEvent(event);
    if (std::exchange(m_defaultLayoutPending, false)) QTimer::singleShot(0, this, &MainWindow::applyDefaultLayout);
}

void MainWindow::applyDefaultLayout() {
    if (m_modelDock) resizeDocks({m_modelDock}, {width() * 42 / 100}, Qt::Horizontal);
    resizeDocks({m_paramsDock}, {300}, Qt::Horizontal);
    resizeDocks({m_jobsDock}, {170}, Qt::Vertical);
}

void MainWindow::saveSettings() const {
    QSettings settings;
    settings.setValue(QStringLiteral("mainWindow/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("mainWindow/state"), saveState());
    settings.setValue(QStringLiteral("mainWindow/jobsSplitter"), m_jobsDock->splitter()->saveState());
    if (QWidget* w = m_tabs->currentWidget())
        settings.setValue(QStringLiteral("mainWindow/currentView"), w->property("qsPluginId").toString());
}

QStringList MainWindow::recentModels() const {
    return QSettings().value(kRecentKey).toStringList();
}

void MainWindow::addRecent(const QString& path) {
    QStringList recent = recentModels();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > kMaxRecent)
        recent.removeLast();
    QSettings().setValue(kRecentKey, recent);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList recent = recentModels();
    for (int i = 0; i < recent.size(); ++i) {
        const QString path = recent[i];
        QAction* a = m_recentMenu->addAction(QStringLiteral("&%1  %2").arg((i + 1) % 10).arg(path));
        a->setEnabled(QFileInfo::exists(path));
        connect(a, &QAction::triggered, this, [this, path] { openModel(path); });
    }
    if (!recent.isEmpty()) m_recentMenu->addSeparator();
    QAction* clear = m_recentMenu->addAction(tr("Clear list"));
    clear->setEnabled(!recent.isEmpty());
    connect(clear, &QAction::triggered, this, [this] {
        QSettings().remove(kRecentKey);
        rebuildRecentMenu();
    });
}

// ---------------------------------------------------------------------------------------------
// Opening models

void MainWindow::chooseModel() {
    QSettings settings;
    const QString start = settings.value(kLastDirKey, QDir::homePath()).toString();
    // A Hugging Face model is a directory: pick its config.json (or a weights file) to open it.
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open model"), start,
        tr("Models (config.json *.safetensors *.gguf *.onnx);;ONNX classifiers (*.onnx);;GGUF (*.gguf);;"
           "All files (*)"));
    if (path.isEmpty()) return;
    settings.setValue(kLastDirKey, QFileInfo(path).absolutePath());
    openModel(path);
}

QString MainWindow::modelPathFromMime(const QMimeData* mime) {
    if (!mime || !mime->hasUrls() || mime->urls().size() != 1) return {};
    const QUrl url = mime->urls().first();
    if (!url.isLocalFile()) return {};
    const QFileInfo info(url.toLocalFile());
    if (info.isDir()) return info.absoluteFilePath();
    const QString name = info.fileName();
    if (info.isFile() &&
        (name == QLatin1String("config.json") || name.endsWith(QLatin1String(".safetensors")) ||
         name == QLatin1String("model.safetensors.index.json")))
        return info.absolutePath();
    if (info.isFile() && (name.endsWith(QLatin1String(".onnx")) || name.endsWith(QLatin1String(".gguf"))))
        return info.absoluteFilePath(); // a model in one file
    return {};
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (!modelPathFromMime(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QString path = modelPathFromMime(event->mimeData());
    if (path.isEmpty()) return;
    event->acceptProposedAction();
    openModel(path);
}

void MainWindow::openModel(const QString& rawPath) {
    QFileInfo info(rawPath);
    const QString path = info.isFile() && (info.fileName() == QLatin1String("config.json") ||
                                           info.suffix() == QLatin1String("safetensors"))
                             ? info.absolutePath()
                             : info.absoluteFilePath();
    plugins::JobService* service = jobs();
    if (service->isRunning()) {
        m_pendingOpen = path;
        service->log(plugins::LogLevel::Info, tr("Cancelling %1 to open %2").arg(service->title(), path));
        service->cancel();
        return;
    }
    service->log(plugins::LogLevel::Info, tr("Opening %1").arg(path));
    auto work = [this, path](const core::JobContext& ctx) -> std::function<void()> {
        std::shared_ptr<const core::Model> model = core::openModel(path.toStdString());
        auto layers = std::make_shared<std::vector<core::LayerReport>>(core::inspectModel(*model, ctx));
        return [this, path, model, layers] {
            m_context->setModel(model);
            m_context->setLayers(std::move(*layers));
            for (const auto& l : m_context->layers())
                if (l.info.quantizable) {
                    m_context->setSelectedLayer(QString::fromStdString(l.info.name));
                    break;
                }
            setWindowTitle(tr("QuantScope — %1").arg(QFileInfo(path).fileName()));
            addRecent(path);
            m_experiments->loadModelData();
        };
    };
    auto onEnd = [this, path](plugins::JobState state, const QString& seconds) {
        if (state != plugins::JobState::Succeeded) return;
        const auto& model = m_context->model();
        jobs()->report(tr("Opened %1: %2 weights, %3 parameters (%4 s)")
                           .arg(path)
                           .arg(m_context->layers().size())
                           .arg(formatCount(model ? model->parameterCount() : 0), seconds));
        emit modelOpened(path);
    };
    service->start({tr("Opening %1").arg(path), tr("Inspect"), tr("weight"), work, onEnd});
}

void MainWindow::cancelJob() {
    m_pendingOpen.clear();
    jobs()->cancel();
}

// ---------------------------------------------------------------------------------------------
// Status bar

void MainWindow::updateBitsLabel() {
    const auto& r = m_context->quantResult();
    if (!r) {
        m_bitsLabel->setText(tr("Bits/weight: no run yet"));
        m_bitsLabel->setToolTip({});
    } else if (!m_context->isQuantResultComplete()) {
        m_bitsLabel->setText(tr("Bits/weight: running…"));
    } else {
        m_bitsLabel->setText(tr("Bits/weight: %1 quantized layers · %2 whole model")
                                 .arg(r->bitsPerWeight, 0, 'f', 3)
                                 .arg(r->modelBitsPerWeight, 0, 'f', 3));
        m_bitsLabel->setToolTip(
            tr("%1 of %2 parameters quantized with %3; the others count at their stored width")
                .arg(formatCount(r->quantizedParams), formatCount(r->totalParams),
                     QString::fromStdString(r->job.spec.label())));
    }
}

void MainWindow::updateModelLabel() {
    const auto& model = m_context->model();
    if (!model) {
        m_modelLabel->setText(tr("No model"));
        return;
    }
    const auto& c = model->config();
    m_modelLabel->setText(
        tr("%1 · %2 · %3 blocks · %4 parameters")
            .arg(QFileInfo(qstr(model->path().string())).fileName(), QString::fromStdString(c.modelType))
            .arg(c.numLayers)
            .arg(formatCount(model->parameterCount())));
}

// ---------------------------------------------------------------------------------------------

QWidget* MainWindow::view(const QString& pluginId) const {
    for (const auto& [id, w] : m_views)
        if (id == pluginId) return w;
    return nullptr;
}

bool MainWindow::showView(const QString& pluginId) {
    for (int i = 0; i < m_tabs->count(); ++i)
        if (m_tabs->widget(i)->property("qsPluginId").toString() == pluginId) {
            m_tabs->setCurrentIndex(i);
            return true;
        }
    QWidget* w = view(pluginId);
    auto* dock = w ? qobject_cast<QDockWidget*>(w->parentWidget()) : nullptr;
    if (!dock) return false;
    dock->show();
    dock->raise();
    return true;
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (jobs()->isRunning()) {
        m_pendingOpen.clear();
        jobs()->cancel();
        jobs()->waitForThread(10000);
    }
    saveSettings();
    event->accept();
}

} // namespace qs::gui
