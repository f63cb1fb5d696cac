// SPDX-License-Identifier: MIT
#include "predict_view.h"

#include "common/analysis_panel.h"
#include "common/plot_export.h"
#include "predict_plot.h"
#include "experiment/predict_run.h"
#include "store/project.h"

#include <QLabel>
#include <QSplitter>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <stdexcept>

namespace qs::views {
namespace {

constexpr int kShownFeatures = 12;

} // namespace

PredictView::PredictView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_panel(new AnalysisPanel(context, "predict", AnalysisPanel::Data::Evaluation, 2, this)),
      m_note(new QLabel(this)), m_scatter(new QCustomPlot(this)), m_importance(new QCustomPlot(this)) {
    setObjectName(QStringLiteral("predictView"));
    m_panel->showOnly({"target", "trees", "lambda", "curvature", "trace_samples", "seed"});
    m_note->setObjectName(QStringLiteral("predictNote"));
    m_note->setWordWrap(true);
    m_scatter->setObjectName(QStringLiteral("predictScatter"));
    m_importance->setObjectName(QStringLiteral("predictImportance"));
    for (QCustomPlot* p : {m_scatter, m_importance}) p->setMinimumSize(240, 200);
    m_scatter->xAxis->setLabel(tr("measured"));
    m_scatter->yAxis->setLabel(tr("predicted, leave-one-out"));
    m_importance->yAxis->setLabel(tr("permutation importance (MAE increase)"));
    m_importance->xAxis->setTickLabelRotation(60);
    installPlotExportMenu(m_scatter, [] { return QStringLiteral("predict_loo"); });
    installPlotExportMenu(m_importance, [] { return QStringLiteral("predict_importance"); });

    auto* plots = new QSplitter(Qt::Vertical, this);
    plots->addWidget(m_scatter);
    plots->addWidget(m_importance);
    layOutNoteAndBody(this, m_note, m_panel, plots);

    // The training rows are the project's runs of the open model; the curvature features read the
    // panel's windows of the evaluation data.
    m_panel->setRequestHook([this](core::AnalysisRequest& r) {
        if (m_context->projectPath().isEmpty())
            throw std::runtime_error(tr("Prediction learns from the project's evaluated runs: open a project and "
                                        "run a sweep first.")
                                         .toStdString());
        auto project = core::Project::open(m_context->projectPath().toStdString(), false);
        core::fillPredictRequest(r, *project, m_context->registries(), m_context->model()->path().string(), nullptr,
                                 r.setPath);
    });
    connect(m_panel, &AnalysisPanel::changed, this, &PredictView::redraw);
    redraw();
}

QString PredictView::noteText() const { return m_note->text(); }

void PredictView::redraw() {
    for (QCustomPlot* p : {m_scatter, m_importance}) {
        p->clearPlottables();
        p->clearItems();
    }
    const auto& outcome = m_panel->outcome();
    QString note;
    if (!outcome) {
        note = tr("Measure ▸ fits a random forest and a ridge model on the project's evaluated runs and shows how "
                  "well each run's quality is predicted from the others.");
    } else {
        const nlohmann::json& s = outcome->output.summary;
        const nlohmann::json& l = s["learners"];
        note = tr("%1 runs, %2 features, target %3. Leave-one-out MAE: forest %4, ridge %5, the mean %6; "
                  "leave-one-format-out: %7, %8, %9.")
                   .arg(s.value("training_runs", 0))
                   .arg(s.value("features", nlohmann::json::array()).size())
                   .arg(QString::fromStdString(s.value("target", "")))
                   .arg(storedNumber(l["forest"]["loo"], "mae"), 0, 'g', 3)
                   .arg(storedNumber(l["linear"]["loo"], "mae"), 0, 'g', 3)
                   .arg(storedNumber(s, "baseline_error"), 0, 'g', 3)
                   .arg(storedNumber(l["forest"]["lofo"], "mae"), 0, 'g', 3)
                   .arg(storedNumber(l["linear"]["lofo"], "mae"), 0, 'g', 3)
                   .arg(storedNumber(s, "baseline_lofo_error"), 0, 'g', 3);
        drawPredictionScatter(m_scatter, outcome->output); // measured against leave-one-out predicted
        drawImportances(m_importance, s, kShownFeatures);    // the forest's, largest first
    }
    if (!m_panel->status().isEmpty()) note += QStringLiteral("<br>") + m_panel->status().toHtmlEscaped();
    m_note->setText(note);
    m_scatter->replot();
    m_importance->replot();
}

} // namespace qs::views
