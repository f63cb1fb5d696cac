// SPDX-License-Identifier: MIT
// ExperimentController's exports: File ▸ Export run… and File ▸ Export report….
#include "experiment_controller.h"

#include "experiment/run_export.h"
#include "report.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QInputDialog>
#include <QMainWindow>
#include <QStatusBar>

namespace qs::gui {

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

} // namespace qs::gui
