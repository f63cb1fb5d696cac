// SPDX-License-Identifier: MIT
#include "analysis_panel.h"

#include "param_form.h"
#include "store/project.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <quantscope/plugin/job_service.h>

namespace qs::views {
namespace {

constexpr int kCtx = 128; // tokens per window, as the CLI's default

} // namespace

AnalysisPanel::AnalysisPanel(plugins::ViewContext* context, const std::string& kind, Data data, int windows,
                             QWidget* parent)
    : QWidget(parent), m_context(context), m_kind(kind), m_data(data), m_stored(new QComboBox(this)),
      m_form(new ParamForm(this)), m_windows(new QSpinBox(this)), m_measure(new QPushButton(tr("Measure"), this)),
      m_status(new QLabel(this)) {
    const QString id = QString::fromStdString(kind);
    setObjectName(id + QStringLiteral("Panel"));
    m_stored->setObjectName(id + QStringLiteral("Stored"));
    m_stored->setToolTip(tr("Analyses of this kind stored in the open project"));
    m_form->setObjectName(id + QStringLiteral("Form"));
    m_form->setSchema(context->registries().analyses.get(kind, "analysis").params());
    m_windows->setObjectName(id + QStringLiteral("Windows"));
    m_windows->setRange(1, 100000);
    m_windows->setValue(windows);
    m_windows->setToolTip(tr("Windows of %1 tokens taken from the start of the %2 data")
                              .arg(kCtx)
                              .arg(data == Data::Evaluation ? tr("evaluation") : tr("calibration")));
    m_measure->setObjectName(id + QStringLiteral("Measure"));
    m_measure->setToolTip(tr("Run the analysis with these parameters as a job (stored in the open project; the same "
                             "inputs re-open the stored one)"));
    m_status->setObjectName(id + QStringLiteral("Status"));
    m_status->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_stored);
    layout->addWidget(m_form);
    auto* windowsRow = new QFormLayout;
    windowsRow->addRow(tr("Windows:"), m_windows);
    layout->addLayout(windowsRow);
    layout->addWidget(m_measure);
    layout->addWidget(m_status);
    layout->addStretch(1);
    setMaximumWidth(340);

    connect(m_measure, &QPushButton::clicked, this, &AnalysisPanel::measure);
    connect(m_stored, &QComboBox::activated, this,
            [this](int index) { showAnalysis(m_stored->itemData(index).value<qint64>()); });
    connect(context, &plugins::ViewContext::projectChanged, this, [this] { reloadList(); });
    connect(context, &plugins::ViewContext::modelChanged, this, [this] {
        m_outcome.reset();
        emit changed();
    });
    reloadList();
}

void AnalysisPanel::setWindows(int windows) { m_windows->setValue(windows); }

void AnalysisPanel::showOnly(const std::vector<std::string>& names) {
    core::ParamSchema shown;
    for (const core::ParamSpec& p : m_context->registries().analyses.get(m_kind, "analysis").params())
        if (std::find(names.begin(), names.end(), p.name) != names.end()) shown.push_back(p);
    m_form->setSchema(shown);
}

QString AnalysisPanel::status() const { return m_status->text(); }

void AnalysisPanel::setStatus(const QString& text) {
    m_status->setText(text);
    emit changed();
}

void AnalysisPanel::reloadList(qint64 show) {
    m_stored->clear();
    const QString path = m_context->projectPath();
    qint64 last = 0;
    if (!path.isEmpty()) {
        try {
            for (const core::AnalysisRecord& a : core::Project::open(path.toStdString(), false)->analyses()) {
                if (a.kind != m_kind) continue;
                m_stored->addItem(tr("#%1 · %2").arg(a.id).arg(QString::fromStdString(a.startedAt)),
                                  QVariant::fromValue<qint64>(a.id));
                last = a.id;
            }
        } catch (const std::exception& e) {
            setStatus(QString::fromStdString(e.what()));
        }
    }
    m_stored->setVisible(m_stored->count() > 0);
    if (show || last) showAnalysis(show ? show : last);
}

bool AnalysisPanel::showAnalysis(qint64 id) {
    try {
        auto project = core::Project::open(m_context->projectPath().toStdString(), false);
        core::AnalysisOutcome out = core::openAnalysis(*project, id);
        if (out.settings.value("analysis", "") != m_kind) return false;
        m_outcome = std::move(out);
        m_stored->setCurrentIndex(m_stored->findData(QVariant::fromValue<qint64>(id)));
        setStatus(tr("Stored analysis #%1.").arg(id));
        return true;
    } catch (const std::exception& e) {
        setStatus(QString::fromStdString(e.what()));
        return false;
    }
}

bool AnalysisPanel::measure() {
    const auto model = m_context->model();
    const QString data = m_data == Data::Evaluation ? m_context->data().evaluation : m_context->data().calibration;
    plugins::JobService* jobs = m_context->jobs();
    if (!model || data.isEmpty() || jobs->isRunning()) {
        setStatus(!model ? tr("Open a model first.")
                  : data.isEmpty()
                      ? (m_data == Data::Evaluation ? tr("Measure reads the evaluation data (toolbar ▸ Data ▸ "
                                                         "Evaluation data…)")
                                                    : tr("Measure reads the calibration data (toolbar ▸ Data ▸ "
                                                         "Calibration data…)"))
                      : tr("Another job is running (Jobs dock)."));
        return false;
    }
    core::AnalysisRequest request;
    request.name = m_kind;
    request.model = model;
    request.setPath = data.toStdString();
    request.ctx = kCtx;
    request.windows = m_windows->value();
    request.params = m_form->values();
    try {
        if (m_hook) m_hook(request);
    } catch (const std::exception& e) {
        setStatus(QString::fromStdString(e.what()));
        return false;
    }
    request.commandLine = "quantscope (GUI) " + m_kind + " ▸ Measure";
    const std::string projectPath = m_context->projectPath().toStdString();
    const core::Registries& registries = m_context->registries();
    QPointer<AnalysisPanel> self(this);
    auto work = [self, request, projectPath, &registries](const core::JobContext& ctx) -> std::function<void()> {
        std::unique_ptr<core::Project> project;
        if (!projectPath.empty()) project = core::Project::open(projectPath, false);
        auto out = std::make_shared<core::AnalysisOutcome>(core::runAnalysis(request, registries, project.get(), ctx));
        return [self, out] {
            if (!self) return;
            if (out->id)
                self->reloadList(out->id); // the list gains it, and it is shown as stored
            else
                self->m_outcome = *out;
            self->setStatus(out->reused ? tr("The project had this analysis: shown as stored.")
                            : out->id   ? tr("Measured and stored as #%1.").arg(out->id)
                                        : tr("Not stored: open a project to keep analyses."));
        };
    };
    auto onEnd = [self, jobs](plugins::JobState state, const QString&) {
        if (!self || state == plugins::JobState::Succeeded) return;
        self->setStatus(state == plugins::JobState::Cancelled ? tr("Measure cancelled.") : jobs->error());
    };
    setStatus(tr("Measuring… (Jobs dock)"));
    const QString title = QString::fromStdString(m_kind);
    return jobs->start({title, title, tr("step"), work, onEnd});
}

void layOutNoteAndBody(QWidget* view, QLabel* note, QWidget* left, QWidget* right) {
    auto* body = new QHBoxLayout;
    body->addWidget(left);
    body->addWidget(right, 1);
    auto* layout = new QVBoxLayout(view);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(note);
    layout->addLayout(body, 1);
}

void layOutAnalysisView(QWidget* view, QLabel* note, AnalysisPanel* panel, const QString& choiceLabel,
                        QComboBox* choice, QWidget* chart) {
    auto* right = new QWidget(view);
    auto* column = new QVBoxLayout(right);
    column->setContentsMargins(0, 0, 0, 0);
    auto* choiceRow = new QHBoxLayout;
    choiceRow->addWidget(new QLabel(choiceLabel, view));
    choiceRow->addWidget(choice, 1);
    column->addLayout(choiceRow);
    column->addWidget(chart, 1);
    layOutNoteAndBody(view, note, panel, right);
}

} // namespace qs::views
