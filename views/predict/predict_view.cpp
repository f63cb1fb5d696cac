// SPDX-License-Identifier: MIT
#include "predict_view.h"

#include "common/analysis_panel.h"
#include "common/plot_export.h"
#include "experiment/predict_run.h"
#include "store/project.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <stdexcept>

namespace qs::views {
namespace {

const QColor kPoints(0, 114, 178), kLine(150, 150, 150);
constexpr int kShownFeatures = 12;

// A stored figure, NaN when absent or not a number (JSON has no NaN: it stores null).
double number(const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

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
    auto* body = new QHBoxLayout;
    body->addWidget(m_panel);
    body->addWidget(plots, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_note);
    layout->addLayout(body, 1);

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
                   .arg(number(l["forest"]["loo"], "mae"), 0, 'g', 3)
                   .arg(number(l["linear"]["loo"], "mae"), 0, 'g', 3)
                   .arg(number(s, "baseline_error"), 0, 'g', 3)
                   .arg(number(l["forest"]["lofo"], "mae"), 0, 'g', 3)
                   .arg(number(l["linear"]["lofo"], "mae"), 0, 'g', 3)
                   .arg(number(s, "baseline_lofo_error"), 0, 'g', 3);
        // Measured against leave-one-out predicted, with y = x.
        auto* points = new QCPGraph(m_scatter->xAxis, m_scatter->yAxis);
        points->setLineStyle(QCPGraph::lsNone);
        points->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, kPoints, kPoints, 6));
        double lo = 0, hi = 0;
        bool first = true;
        for (const auto& [label, v] : outcome->output.rows) {
            const double x = number(v, "target"), y = number(v, "loo_predicted");
            if (!std::isfinite(x) || !std::isfinite(y)) continue;
            points->addData(x, y);
            lo = first ? std::min(x, y) : std::min({lo, x, y});
            hi = first ? std::max(x, y) : std::max({hi, x, y});
            first = false;
        }
        auto* diagonal = new QCPItemStraightLine(m_scatter);
        diagonal->setPen(QPen(kLine, 1, Qt::DashLine));
        diagonal->point1->setCoords(0, 0);
        diagonal->point2->setCoords(1, 1);
        const double pad = std::max(1e-9, (hi - lo) * 0.05);
        m_scatter->xAxis->setRange(lo - pad, hi + pad);
        m_scatter->yAxis->setRange(lo - pad, hi + pad);
        // The most important features (forest), largest first.
        std::vector<std::pair<double, std::string>> imp;
        const nlohmann::json importances = s.value("importances", nlohmann::json::object()); // items() needs it alive
        for (const auto& [k, v] : importances.items())
            if (v.is_number()) imp.emplace_back(v.get<double>(), k);
        std::sort(imp.rbegin(), imp.rend());
        if (imp.size() > kShownFeatures) imp.resize(kShownFeatures);
        auto* bars = new QCPBars(m_importance->xAxis, m_importance->yAxis);
        bars->setPen(Qt::NoPen);
        bars->setBrush(kPoints);
        QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
        double top = 0, bottom = 0;
        for (std::size_t i = 0; i < imp.size(); ++i) {
            bars->addData(double(i), imp[i].first);
            ticker->addTick(double(i), QString::fromStdString(imp[i].second));
            top = std::max(top, imp[i].first);
            bottom = std::min(bottom, imp[i].first);
        }
        m_importance->xAxis->setTicker(ticker);
        m_importance->xAxis->setRange(-0.7, double(std::max<std::size_t>(1, imp.size())) - 0.3);
        m_importance->yAxis->setRange(bottom * 1.1, std::max(1e-12, top * 1.1));
    }
    if (!m_panel->status().isEmpty()) note += QStringLiteral("<br>") + m_panel->status().toHtmlEscaped();
    m_note->setText(note);
    m_scatter->replot();
    m_importance->replot();
}

} // namespace qs::views
