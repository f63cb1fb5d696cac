// SPDX-License-Identifier: MIT
#include "main_window.h"

#include "data/calib_data.h"
#include "command_line.h"
#include "quant/model_quantizer.h"
#include "param_form.h"
#include "quant/quant_spec.h"
#include "sweep_dialog.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStandardItemModel>
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

QString methodTitle(const QString& name) {
    return name.toUpper();
}

QString formatCount(std::int64_t n) {
    const QLocale en(QLocale::English);
    if (n >= 1'000'000'000) return en.toString(static_cast<double>(n) / 1e9, 'f', 2) + QStringLiteral(" B");
    if (n >= 1'000'000) return en.toString(static_cast<double>(n) / 1e6, 'f', 2) + QStringLiteral(" M");
    return en.toString(static_cast<qlonglong>(n));
}

// Fills a toolbar combo with a Choice parameter's values of a schema.
void fillChoices(QComboBox* combo, const core::ParamSchema& schema, const std::string& name) {
    for (const auto& spec : schema)
        if (spec.name == name)
            for (const auto& c : spec.choices)
                combo->addItem(QString::fromStdString(c));
}

} // namespace

MainWindow::MainWindow(const core::Registries& registries, plugins::PluginManager& plugins, QWidget* parent)
    : QMainWindow(parent), m_registries(registries), m_plugins(plugins),
      m_context(new plugins::ViewContext(this)), m_jobs(new JobRunner(this)) {
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(QStringLiteral("QuantScope"));
    setAcceptDrops(true);
    setDockOptions(AnimatedDocks | AllowTabbedDocks | AllowNestedDocks);
    setCorner(Qt::BottomLeftCorner, Qt::BottomDockWidgetArea);
    setCorner(Qt::BottomRightCorner, Qt::BottomDockWidgetArea);

    createActions();
    createToolBar();
    createDocks();
    createViews();

    m_statusTimer = new QTimer(this);
    m_statusTimer->setInterval(500);
    connect(m_statusTimer, &QTimer::timeout, this, &MainWindow::updateJobStatus);
    connect(m_jobs, &JobRunner::started, this, &MainWindow::onJobStarted);
    connect(m_jobs, &JobRunner::progress, this, &MainWindow::onJobProgress);
    connect(m_jobs, &JobRunner::finished, this, &MainWindow::onJobFinished);
    connect(m_context, &plugins::ViewContext::selectedLayerChanged, this, &MainWindow::updateExplanation);
    connect(m_context, &plugins::ViewContext::modelChanged, this, [this] {
        updateModelLabel();
        updateRunEnabled();
    });
    connect(m_context, &plugins::ViewContext::quantResultChanged, this, &MainWindow::updateBitsLabel);
    // Selecting a run in any view (Pareto point, Runs row) makes it the current result in all of them.
    connect(m_context, &plugins::ViewContext::selectedRunChanged, this, &MainWindow::showRunResult);

    m_bitsLabel = new QLabel(this);
    m_bitsLabel->setObjectName(QStringLiteral("bitsPerWeightLabel"));
    m_modelLabel = new QLabel(this);
    m_modelLabel->setObjectName(QStringLiteral("modelLabel"));
    m_projectLabel = new QLabel(this);
    m_projectLabel->setObjectName(QStringLiteral("projectLabel"));
    m_evalLabel = new QLabel(this);
    m_evalLabel->setObjectName(QStringLiteral("evaluationLabel"));
    statusBar()->addPermanentWidget(m_evalLabel);
    statusBar()->addPermanentWidget(m_projectLabel);
    statusBar()->addPermanentWidget(m_modelLabel);
    statusBar()->addPermanentWidget(m_bitsLabel);
    updateModelLabel();
    updateBitsLabel();
    updateProjectLabel();
    updateEvaluationLabel();
    onMethodChanged();
    onTransformChanged();
    updateJobStatus();
    restoreSettings();
    restoreLastProject();

    for (const QString& e : m_plugins.errors())
        appendLog(LogLevel::Warning, tr("view plugin: %1").arg(e));
    for (const auto& e : m_plugins.entries())
        if (e.source.startsWith(QLatin1Char('/')))
            appendLog(LogLevel::Info, tr("Loaded view plugin '%1' from %2").arg(e.plugin->title(), e.source));
}

MainWindow::~MainWindow() = default;

// ---------------------------------------------------------------------------------------------
// Construction

void MainWindow::createActions() {
    m_runAction = new QAction(tr("Run ▶"), this);
    m_runAction->setObjectName(QStringLiteral("runAction"));
    m_runAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_runAction->setToolTip(
        tr("Quantize every quantizable weight with the chosen method and format (Ctrl+R)"));
    connect(m_runAction, &QAction::triggered, this, &MainWindow::runQuantization);

    QMenu* file = menuBar()->addMenu(tr("&File"));
    m_openAction = file->addAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("&Open model…"));
    m_openAction->setShortcut(QKeySequence::Open);
    m_openAction->setToolTip(tr("Open a model: a Hugging Face directory (its config.json), a .gguf or an "
                                "ONNX classifier (.onnx)"));
    connect(m_openAction, &QAction::triggered, this, &MainWindow::chooseModel);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    rebuildRecentMenu();
    file->addSeparator();
    createExperimentActions(file);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"));
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, this, &QWidget::close);

    m_viewMenu = menuBar()->addMenu(tr("&View"));

    QMenu* help = menuBar()->addMenu(tr("&Help"));
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
    auto* dataButton = new QToolButton(bar);
    dataButton->setObjectName(QStringLiteral("dataButton"));
    dataButton->setText(tr("Data"));
    dataButton->setToolTip(tr("Evaluation and calibration data of the open model"));
    dataButton->setMenu(m_dataMenu);
    dataButton->setPopupMode(QToolButton::InstantPopup);
    dataButton->setToolButtonStyle(Qt::ToolButtonTextOnly);
    bar->addWidget(dataButton);
    bar->addSeparator();

    const auto labelled = [&](const QString& text, QComboBox* combo) {
        auto* label = new QLabel(text, bar);
        label->setContentsMargins(6, 0, 2, 0);
        bar->addWidget(label);
        bar->addWidget(combo);
    };
    // Transforms change the basis before the method quantizes ("rotate+gptq"): none or one registered.
    m_transformCombo = new QComboBox(bar);
    m_transformCombo->setObjectName(QStringLiteral("transformCombo"));
    m_transformCombo->addItem(tr("none"), QString());
    m_transformCombo->setItemData(0, tr("Quantize the weights as they are"), Qt::ToolTipRole);
    for (const core::ModelTransform* t : m_registries.transforms.all()) {
        QString tip = qstr(t->summary());
        if (t->needsCalibration()) tip += tr(" — needs calibration data (toolbar ▸ Data)");
        m_transformCombo->addItem(methodTitle(qstr(t->name())), qstr(t->name()));
        m_transformCombo->setItemData(m_transformCombo->count() - 1, tip, Qt::ToolTipRole);
    }
    labelled(tr("Transform"), m_transformCombo);

    m_methodCombo = new QComboBox(bar);
    m_methodCombo->setObjectName(QStringLiteral("methodCombo"));
    auto* methodModel = new QStandardItemModel(m_methodCombo);
    for (const core::Quantizer* q : m_registries.quantizers.all()) {
        auto* item = new QStandardItem(methodTitle(qstr(q->name())));
        item->setData(qstr(q->name()), Qt::UserRole);
        item->setToolTip(qstr(q->summary()));
        if (q->needsCalibration())
            item->setToolTip(qstr(q->summary()) + tr(" — needs calibration data (toolbar ▸ Data)"));
        methodModel->appendRow(item);
    }
    m_methodCombo->setModel(methodModel);
    labelled(tr("Method"), m_methodCombo);

    m_formatCombo = new QComboBox(bar);
    m_formatCombo->setObjectName(QStringLiteral("formatCombo"));
    for (const auto& f : core::formatTable()) {
        m_formatCombo->addItem(qstr(f.name));
        m_formatCombo->setItemData(m_formatCombo->count() - 1, qstr(f.summary), Qt::ToolTipRole);
    }
    labelled(tr("Format"), m_formatCombo);

    m_granularityCombo = new QComboBox(bar);
    m_granularityCombo->setObjectName(QStringLiteral("granularityCombo"));
    fillChoices(m_granularityCombo, core::quantSpecSchema(), "granularity");
    labelled(tr("Granularity"), m_granularityCombo);

    bar->addSeparator();
    bar->addAction(m_runAction);
    bar->addAction(m_evaluateAction);
    bar->addAction(m_sweepAction);
    bar->addAction(m_reportAction);

    connect(m_methodCombo, &QComboBox::currentIndexChanged, this, &MainWindow::onMethodChanged);
    connect(m_transformCombo, &QComboBox::currentIndexChanged, this, &MainWindow::onTransformChanged);
    // The toolbar's format and granularity are a second editor of the Parameters form's fields.
    connect(m_formatCombo, &QComboBox::currentTextChanged, this,
            [this](const QString& v) { m_specForm->setValue(QStringLiteral("format"), v.toStdString()); });
    connect(m_granularityCombo, &QComboBox::currentTextChanged, this, [this](const QString& v) {
        m_specForm->setValue(QStringLiteral("granularity"), v.toStdString());
    });
}

void MainWindow::createDocks() {
    // Parameters: forms from the registries plus the teaching text of the format and method.
    auto* params = new QWidget;
    auto* paramsLayout = new QVBoxLayout(params);
    auto* specBox = new QGroupBox(tr("Weight format"), params);
    auto* specLayout = new QVBoxLayout(specBox);
    m_specForm = new ParamForm(specBox);
    m_specForm->setObjectName(QStringLiteral("specForm"));
    m_specForm->setSchema(core::quantSpecSchema(), defaultSpecValues());
    specLayout->addWidget(m_specForm);
    m_transformBox = new QGroupBox(tr("Transform"), params);
    m_transformBox->setObjectName(QStringLiteral("transformBox"));
    auto* transformLayout = new QVBoxLayout(m_transformBox);
    m_transformForm = new ParamForm(m_transformBox);
    m_transformForm->setObjectName(QStringLiteral("transformForm"));
    m_transformNote = new QLabel(m_transformBox);
    m_transformNote->setWordWrap(true);
    transformLayout->addWidget(m_transformNote);
    transformLayout->addWidget(m_transformForm);
    m_methodBox = new QGroupBox(tr("Method"), params);
    auto* methodLayout = new QVBoxLayout(m_methodBox);
    m_methodForm = new ParamForm(m_methodBox);
    m_methodForm->setObjectName(QStringLiteral("methodForm"));
    m_methodNote = new QLabel(m_methodBox);
    m_methodNote->setWordWrap(true);
    methodLayout->addWidget(m_methodNote);
    methodLayout->addWidget(m_methodForm);
    m_explanation = new QLabel(params);
    m_explanation->setObjectName(QStringLiteral("explanation"));
    m_explanation->setWordWrap(true);
    m_explanation->setTextFormat(Qt::RichText);
    m_explanation->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_explanation->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Minimum);
    paramsLayout->addWidget(specBox);
    paramsLayout->addWidget(m_transformBox);
    paramsLayout->addWidget(m_methodBox);
    createEvalForm(params, paramsLayout);
    paramsLayout->addWidget(m_explanation);
    paramsLayout->addStretch(1);
    auto* scroll = new QScrollArea;
    scroll->setWidget(params);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    // Never narrower than the forms themselves (long explanations wrap; fields and labels cannot), so
    // nothing is cut off at the right edge.
    scroll->setMinimumWidth(params->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width());
    m_paramsDock = new QDockWidget(tr("Parameters"), this);
    m_paramsDock->setObjectName(QStringLiteral("parametersDock"));
    m_paramsDock->setWidget(scroll);
    addDockWidget(Qt::RightDockWidgetArea, m_paramsDock);
    connect(m_specForm, &ParamForm::valueChanged, this, &MainWindow::onSpecValueChanged);
    // The form edits the one shared spec; a view that picks a format there moves the form.
    connect(m_context, &plugins::ViewContext::currentSpecChanged, this, &MainWindow::onCurrentSpecChanged);
    // Layer rules set in the layer table are part of the recipe: re-check it and say what changed.
    connect(m_context, &plugins::ViewContext::layerRulesChanged, this, [this] {
        updateExplanation();
        updateRunEnabled();
        QString error;
        if (!currentRecipe(&error)) appendLog(LogLevel::Warning, error);
    });
    onSpecValueChanged(QStringLiteral("format"));
    onSpecValueChanged(QStringLiteral("granularity"));

    // Jobs: progress, status, cancel | log.
    auto* jobs = new QWidget;
    auto* grid = new QGridLayout(jobs);
    m_progress = new QProgressBar(jobs);
    m_progress->setObjectName(QStringLiteral("jobProgress"));
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setTextVisible(true);
    m_cancelButton = new QPushButton(style()->standardIcon(QStyle::SP_BrowserStop), tr("Cancel"), jobs);
    m_cancelButton->setObjectName(QStringLiteral("cancelButton"));
    m_cancelButton->setEnabled(false);
    connect(m_cancelButton, &QPushButton::clicked, this, &MainWindow::cancelJob);
    m_jobStatus = new QLabel(jobs);
    m_jobStatus->setObjectName(QStringLiteral("jobStatus"));
    m_jobStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
    grid->addWidget(m_progress, 0, 0);
    grid->addWidget(m_cancelButton, 0, 1);
    grid->addWidget(m_jobStatus, 1, 0, 1, 2);
    grid->setRowStretch(2, 1);
    grid->setColumnStretch(0, 1);
    m_log = new QPlainTextEdit;
    m_log->setObjectName(QStringLiteral("jobLog"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setPlaceholderText(tr("Warnings and errors of jobs appear here."));
    m_jobsSplitter = new QSplitter(Qt::Horizontal);
    m_jobsSplitter->setObjectName(QStringLiteral("jobsSplitter"));
    m_jobsSplitter->addWidget(jobs);
    m_jobsSplitter->addWidget(m_log);
    m_jobsSplitter->setStretchFactor(0, 2);
    m_jobsSplitter->setStretchFactor(1, 3);
    m_jobsDock = new QDockWidget(tr("Jobs"), this);
    m_jobsDock->setObjectName(QStringLiteral("jobsDock"));
    m_jobsDock->setWidget(m_jobsSplitter);
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
            view = plugin->createView(m_context, m_tabs);
            m_tabs->addTab(view, plugin->title());
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

// ---------------------------------------------------------------------------------------------
// Settings

void MainWindow::restoreSettings() {
    QSettings settings;
    const bool restored =
        restoreGeometry(settings.value(QStringLiteral("mainWindow/geometry")).toByteArray()) &&
        restoreState(settings.value(QStringLiteral("mainWindow/state")).toByteArray());
    if (!m_jobsSplitter->restoreState(
            settings.value(QStringLiteral("mainWindow/jobsSplitter")).toByteArray()))
        m_jobsSplitter->setSizes({520, 880});
    const QString tab = settings.value(QStringLiteral("mainWindow/currentView")).toString();
    for (int i = 0; i < m_tabs->count(); ++i)
        if (m_tabs->widget(i)->property("qsPluginId").toString() == tab) m_tabs->setCurrentIndex(i);
    if (!restored) {
        resize(1440, 900);
        // Dock sizes need a laid-out window: apply them once the event loop runs.
        QTimer::singleShot(0, this, &MainWindow::applyDefaultLayout);
    }
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
    settings.setValue(QStringLiteral("mainWindow/jobsSplitter"), m_jobsSplitter->saveState());
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
    if (m_jobs->isRunning()) {
        m_pendingOpen = path;
        appendLog(LogLevel::Info, tr("Cancelling %1 to open %2").arg(m_jobs->title(), path));
        m_jobs->cancel();
        return;
    }
    m_jobTarget = path;
    appendLog(LogLevel::Info, tr("Opening %1").arg(path));
    startJob(
        {tr("Opening %1").arg(path),
         [this, path](JobState state, const QString& seconds) {
             if (state != JobState::Succeeded) return;
             appendLog(LogLevel::Info,
                       tr("Opened %1: %2 weights, %3 parameters (%4 s)")
                           .arg(path)
                           .arg(m_context->layers().size())
                           .arg(formatCount(m_context->model() ? m_context->model()->parameterCount() : 0), seconds));
             m_jobStatus->setText(tr("Opened %1 in %2 s").arg(QFileInfo(path).fileName(), seconds));
             emit modelOpened(path);
         }},
        tr("Inspect"), tr("weight"), [this, path](const core::JobContext& ctx) -> std::function<void()> {
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
                loadModelData();
            };
        });
}

// ---------------------------------------------------------------------------------------------
// Parameters

bool MainWindow::setMethod(const QString& name) {
    for (int i = 0; i < m_methodCombo->count(); ++i)
        if (m_methodCombo->itemData(i, Qt::UserRole).toString() == name) {
            m_methodCombo->setCurrentIndex(i);
            return true;
        }
    return false;
}

bool MainWindow::setTransform(const QString& name) {
    const int i = m_transformCombo->findData(name);
    if (i < 0) return false;
    m_transformCombo->setCurrentIndex(i);
    return true;
}

QString MainWindow::transform() const {
    return m_transformCombo->currentData().toString();
}

void MainWindow::onTransformChanged() {
    const QString name = transform();
    const core::ModelTransform* t = m_registries.transforms.find(name.toStdString());
    if (!t) {
        m_transformForm->setSchema({});
        m_transformBox->setTitle(tr("Transform: none"));
        m_transformNote->setText(tr("The method quantizes the weights in their own basis. A transform "
                                    "(toolbar ▸ Transform) rotates or rescales them first."));
    } else {
        m_transformBox->setTitle(tr("Transform: %1").arg(methodTitle(name)));
        m_transformForm->setSchema(t->params());
        QString note = qstr(t->summary());
        if (t->needsCalibration()) note += tr(" Needs calibration data (toolbar ▸ Data).");
        m_transformNote->setText(note);
    }
    updateRunEnabled();
}

void MainWindow::onMethodChanged() {
    const QString name = m_methodCombo->currentData(Qt::UserRole).toString();
    const core::Quantizer* q = m_registries.quantizers.find(name.toStdString());
    if (!q) {
        m_methodForm->setSchema({});
        m_methodBox->setTitle(tr("Method"));
        m_methodNote->setText(tr("No quantization method is registered."));
        updateRunEnabled();
        return;
    }
    m_methodBox->setTitle(tr("Method: %1").arg(methodTitle(name)));
    m_methodForm->setSchema(q->params());
    QString note = qstr(q->summary());
    if (m_methodForm->isEmpty()) note += tr(". It has no parameters of its own.");
    m_methodNote->setText(note);
    updateExplanation();
    updateRunEnabled();
}

void MainWindow::onSpecValueChanged(const QString& name) {
    if (m_applyingSpec) return; // onCurrentSpecChanged updates once all fields are set
    const nlohmann::json v = m_specForm->values();
    if (name == QLatin1String("format") && m_formatCombo) {
        const QSignalBlocker block(m_formatCombo);
        m_formatCombo->setCurrentText(QString::fromStdString(v.value("format", "")));
    }
    if (name == QLatin1String("granularity")) {
        const QString g = QString::fromStdString(v.value("granularity", ""));
        if (m_granularityCombo) {
            const QSignalBlocker block(m_granularityCombo);
            m_granularityCombo->setCurrentText(g);
        }
        if (QWidget* group = m_specForm->editor(QStringLiteral("group")))
            group->setEnabled(g == QLatin1String("group"));
    }
    try {
        m_context->setCurrentSpec(core::QuantSpec::fromJson(v));
    } catch (const std::exception&) {
        // An invalid combination (shown in the explanation) is not shared with the views.
    }
    updateExplanation();
    updateRunEnabled();
}

void MainWindow::onCurrentSpecChanged() {
    const nlohmann::json wanted = m_context->currentSpec().toJson();
    try {
        if (core::QuantSpec::fromJson(m_specForm->values()).toJson() == wanted) return;
    } catch (const std::exception&) {
        // The form holds an invalid combination: overwrite it.
    }
    // An MX/NV spec carries its fixed block as group size: keep the form's group for INT groups.
    const bool fixedBlock = core::formatTraits(m_context->currentSpec().format).fixedBlock != 0;
    m_applyingSpec = true;
    for (const auto& [key, value] : wanted.items())
        if (!(fixedBlock && key == "group")) m_specForm->setValue(QString::fromStdString(key), value);
    m_applyingSpec = false;
    onSpecValueChanged(QStringLiteral("format"));
    onSpecValueChanged(QStringLiteral("granularity"));
}

QString MainWindow::specError() const {
    try {
        (void)core::QuantSpec::fromJson(m_specForm->values());
        return {};
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
}

void MainWindow::updateExplanation() {
    if (!m_explanation) return;
    const nlohmann::json v = m_specForm->values();
    QString html;
    if (const core::FormatTraits* f = core::findFormat(v.value("format", ""))) {
        html +=
            QStringLiteral("<p><b>%1</b> — %2</p><p>%3</p>")
                .arg(qstr(f->name), qstr(f->summary).toHtmlEscaped(), qstr(f->explanation).toHtmlEscaped());
    }
    const QString error = specError();
    if (const auto n = m_context->layerRules().size(); n > 0)
        html += tr("<p>%n layer rule(s) override this default for some weights: see the Assignment column "
                   "of the layer table (right-click rows to change them).</p>",
                   nullptr, static_cast<int>(n));
    if (!error.isEmpty()) {
        html += QStringLiteral("<p style='color:#b00020'>%1</p>").arg(error.toHtmlEscaped());
    } else if (const core::LayerReport* layer = m_context->findLayer(m_context->selectedLayer());
               layer && layer->info.quantizable) {
        const auto spec = core::QuantSpec::fromJson(v);
        const auto rows = layer->info.matrixRows(), cols = layer->info.matrixCols();
        html += tr("<p>%1 on <i>%2</i> (%3 × %4): <b>%5 bits per weight</b>, scales and zero points "
                   "included.</p>")
                    .arg(QString::fromStdString(spec.label()).toHtmlEscaped(),
                         QString::fromStdString(layer->info.name).toHtmlEscaped())
                    .arg(rows)
                    .arg(cols)
                    .arg(spec.bitsPerWeight(rows, cols), 0, 'f', 3);
    }
    m_explanation->setText(html);
}

void MainWindow::updateRunEnabled() {
    if (!m_runAction) return;
    const bool methodOk =
        m_methodCombo &&
        m_registries.quantizers.find(m_methodCombo->currentData(Qt::UserRole).toString().toStdString());
    const bool ready = m_context->model() && !m_jobs->isRunning() && methodOk && specError().isEmpty();
    m_runAction->setEnabled(ready);
    // Evaluate and Sweep explain what is missing (data, project) when triggered.
    if (m_evaluateAction) m_evaluateAction->setEnabled(ready);
    if (m_sweepAction) m_sweepAction->setEnabled(m_context->model() && !m_jobs->isRunning());
}

// ---------------------------------------------------------------------------------------------
// Quantization

bool MainWindow::runQuantization() {
    const auto model = m_context->model();
    if (!model) {
        statusBar()->showMessage(tr("Open a model first"), 5000);
        return false;
    }
    if (m_jobs->isRunning()) {
        statusBar()->showMessage(tr("A job is running: wait for it or cancel it"), 5000);
        return false;
    }
    QString recipeError;
    const std::optional<core::Recipe> recipe = currentRecipe(&recipeError);
    if (!recipe) {
        appendLog(LogLevel::Error, recipeError);
        statusBar()->showMessage(recipeError, 8000);
        return false;
    }
    const core::QuantJob job = recipe->job; // with the transform chosen, if any
    const bool calibrated = needsCalibration();
    if (calibrated && m_calibData.isEmpty()) {
        statusBar()->showMessage(tr("%1 needs calibration data: choose it in the toolbar's Data menu")
                                     .arg(methodTitle(QString::fromStdString(job.method))),
                                 8000);
        return false;
    }
    const std::string calibFile = calibrated ? m_calibData.toStdString() : std::string();
    const core::EvalOptions eval = evalOptions();
    const long long calibWindows = m_evalForm->values().value("calib_windows", 128LL);
    m_jobTarget = QStringLiteral("%1 %2").arg(methodTitle(QString::fromStdString(job.method)),
                                              QString::fromStdString(job.spec.label()));
    const QString target = m_jobTarget;
    JobEnd end{target, [this, target](JobState state, const QString& seconds) {
                   if (state != JobState::Succeeded) {
                       m_context->setQuantResult(std::nullopt); // no half result stays on screen
                       return;
                   }
                   if (const auto& r = m_context->quantResult()) {
                       appendLog(LogLevel::Info,
                                 tr("%1: %2 layers in %3 s; %4 bits/weight over quantized layers, %5 over the model")
                                     .arg(target)
                                     .arg(r->layers.size())
                                     .arg(seconds)
                                     .arg(r->bitsPerWeight, 0, 'f', 3)
                                     .arg(r->modelBitsPerWeight, 0, 'f', 3));
                       m_jobStatus->setText(tr("%1 finished in %2 s").arg(target, seconds));
                   }
               }};
    m_context->beginQuantResult(job);
    appendLog(
        LogLevel::Info,
        tr("Quantizing %1 with %2").arg(QFileInfo(qstr(model->path().string())).fileName(), m_jobTarget));
    const core::Registries& registries = m_registries;
    plugins::ViewContext* context = m_context;
    return startJob(
        std::move(end), methodTitle(QString::fromStdString(job.method)), tr("layer"),
        [model, &registries, job, context, calibFile, eval,
         calibWindows](const core::JobContext& ctx) -> std::function<void()> {
            auto onLayer = [context](const core::LayerQuantResult& layer) {
                QMetaObject::invokeMethod(
                    context, [context, layer] { context->addLayerResult(layer); }, Qt::QueuedConnection);
            };
            std::optional<core::CalibrationData> calib;
            if (!calibFile.empty())
                calib = core::loadCalibrationData(calibFile, model->path(), eval.ctx, calibWindows);
            auto result = std::make_shared<core::ModelQuantResult>(
                core::quantizeModel(*model, registries, job, ctx, false, onLayer, calib ? &*calib : nullptr));
            return [context, result] { context->setQuantResult(std::move(*result)); };
        });
}

void MainWindow::cancelJob() {
    if (!m_jobs->isRunning()) return;
    m_pendingOpen.clear();
    m_jobs->cancel();
    updateJobStatus();
}

// ---------------------------------------------------------------------------------------------
// Jobs dock

void MainWindow::onJobStarted() {
    m_jobMessage.clear();
    m_progress->setRange(0, 0); // busy until the first step says how many there are
    m_cancelButton->setEnabled(true);
    m_statusTimer->start();
    updateJobStatus();
    updateRunEnabled();
}

void MainWindow::onJobProgress(long long done, long long total, const QString& message) {
    if (total > 0) {
        const int scale = total > 1'000'000 ? static_cast<int>(total / 1'000'000 + 1) : 1;
        m_progress->setRange(0, static_cast<int>(total / scale));
        m_progress->setValue(static_cast<int>(done / scale));
    }
    m_jobMessage = message;
    updateJobStatus();
}

void MainWindow::updateJobStatus() {
    if (m_jobs->isRunning()) {
        QString s = m_jobs->statusText();
        if (m_jobs->isCancelRequested())
            s += tr(" · cancelling…");
        else if (!m_jobMessage.isEmpty())
            s += QStringLiteral(" — ") + m_jobMessage;
        m_jobStatus->setText(s);
    } else if (m_jobs->state() == JobState::Idle) {
        m_jobStatus->setText(tr("Ready"));
    }
}

bool MainWindow::startJob(JobEnd end, const QString& title, const QString& unit, JobRunner::Work work) {
    m_jobEnd = std::move(end);
    if (m_jobs->start(title, unit, std::move(work))) return true;
    m_jobEnd = {};
    return false;
}

void MainWindow::onJobFinished(JobState state, const QString& message) {
    m_statusTimer->stop();
    m_cancelButton->setEnabled(false);
    const JobEnd end = std::exchange(m_jobEnd, {});
    const QString seconds = QString::number(m_jobs->elapsedSeconds(), 'f', 1);
    m_progress->setRange(0, 1);
    m_progress->setValue(state == JobState::Succeeded ? 1 : 0);
    // What every job says when it stops short; the job's own handler reports success and cleans up.
    if (state == JobState::Cancelled) {
        appendLog(LogLevel::Info, tr("%1 cancelled after %2 s").arg(end.what, seconds));
        m_jobStatus->setText(tr("%1 cancelled").arg(end.what));
    } else if (state == JobState::Failed) {
        appendLog(LogLevel::Error, message);
        m_jobStatus->setText(tr("%1 failed: %2").arg(end.what, message));
        statusBar()->showMessage(tr("%1 failed: %2").arg(end.what, message), 10000);
    }
    if (end.onEnd) end.onEnd(state, seconds);
    updateRunEnabled();
    if (!m_pendingOpen.isEmpty()) {
        const QString next = std::exchange(m_pendingOpen, QString());
        openModel(next);
    }
}

void MainWindow::appendLog(LogLevel level, const QString& text) {
    static const char* const names[] = {"info", "warning", "error"};
    static const char* const colours[] = {"#404040", "#9a6700", "#b00020"};
    const int i = static_cast<int>(level);
    const QString line = QStringLiteral("%1  %2  %3")
                             .arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss")),
                                  QString::fromLatin1(names[i]).leftJustified(7), text);
    m_log->appendHtml(QStringLiteral("<span style='color:%1; white-space:pre'>%2</span>")
                          .arg(QLatin1String(colours[i]), line.toHtmlEscaped()));
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

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_jobs->isRunning()) {
        m_pendingOpen.clear();
        m_jobs->cancel();
        m_jobs->waitForThread(10000);
    }
    saveSettings();
    event->accept();
}

} // namespace qs::gui
