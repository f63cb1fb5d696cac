// SPDX-License-Identifier: MIT
#include "pareto_view.h"

#include "common/plot_export.h"
#include "experiment/cost_run.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QMouseEvent>
#include <QToolTip>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace qs::views {

ParetoView::ParetoView(plugins::ViewContext* context, QWidget* parent) : QWidget(parent), m_context(context) {
    setObjectName(QStringLiteral("paretoView"));
    m_x = new QComboBox(this);
    m_x->setObjectName(QStringLiteral("paretoX"));
    m_y = new QComboBox(this);
    m_y->setObjectName(QStringLiteral("paretoY"));
    // Every size metric is an x, every quality metric a y (core/store/run_metrics.h).
    for (const auto& m : core::runMetricTable()) {
        QComboBox* axis = m.role == core::MetricRole::Size ? m_x : m.role == core::MetricRole::Quality ? m_y : nullptr;
        if (!axis) continue;
        axis->addItem(QString::fromUtf8(m.label.data(), static_cast<qsizetype>(m.label.size())),
                      QString::fromLatin1(m.key.data(), static_cast<qsizetype>(m.key.size())));
        axis->setItemData(axis->count() - 1, QString::fromUtf8(m.help.data(), static_cast<qsizetype>(m.help.size())),
                          Qt::ToolTipRole);
    }
    // Metric titles are long ("KL divergence to fp32 (mean, nats)"): the combos show what fits and
    // list the whole titles, so the view does not force a wide window.
    for (QComboBox* axis : {m_x, m_y}) {
        axis->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        axis->setMinimumContentsLength(10);
    }
    m_group = new QComboBox(this);
    m_group->setObjectName(QStringLiteral("paretoGroup"));
    m_group->addItem(tr("per method"), int(ParetoGroup::Method));
    m_group->addItem(tr("per format"), int(ParetoGroup::Format));
    m_logX = new QCheckBox(tr("log x"), this);
    m_logY = new QCheckBox(tr("log y"), this);
    m_range = new QComboBox(this);
    m_range->setObjectName(QStringLiteral("paretoRange"));
    m_range->addItem(tr("fit robust"), int(ParetoRange::Robust));
    m_range->addItem(tr("fit front"), int(ParetoRange::Front));
    m_range->addItem(tr("fit all"), int(ParetoRange::All));
    m_range->setToolTip(tr("The y range: every point but far outliers (robust), the front and fp32 only, or "
                           "every point (double-click the plot to refit)"));
    m_labels = new QCheckBox(tr("labels"), this);
    m_labels->setObjectName(QStringLiteral("paretoLabels"));
    m_labels->setToolTip(tr("Write each run's recipe beside its point"));
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("paretoStatus"));
    m_status->setWordWrap(true); // a long status wraps instead of widening the window

    // Two rows, so the view stays usable in a narrow centre: what is plotted, then how.
    auto* axes = new QHBoxLayout;
    axes->addWidget(new QLabel(tr("x"), this));
    axes->addWidget(m_x);
    axes->addWidget(new QLabel(tr("y"), this));
    axes->addWidget(m_y);
    axes->addWidget(m_group);
    axes->addStretch(1);
    auto* options = new QHBoxLayout;
    options->addWidget(m_logX);
    options->addWidget(m_logY);
    options->addWidget(m_range);
    options->addWidget(m_labels);
    options->addWidget(m_status, 1);
    auto* controls = new QVBoxLayout;
    controls->addLayout(axes);
    controls->addLayout(options);

    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("paretoPlot"));
    m_plot->setMinimumSize(320, 240);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_plot->setMouseTracking(true);
    installPlotExportMenu(m_plot, [] { return QStringLiteral("pareto"); });

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(m_plot, 1);

    for (QComboBox* c : {m_x, m_y, m_group, m_range})
        connect(c, &QComboBox::currentIndexChanged, this, &ParetoView::redraw);
    for (QCheckBox* c : {m_logX, m_logY})
        connect(c, &QCheckBox::toggled, this, &ParetoView::redraw);
    connect(m_labels, &QCheckBox::toggled, this, &ParetoView::redrawKeepingZoom);
    connect(m_plot, &QCustomPlot::mouseMove, this, &ParetoView::onMouseMove);
    connect(m_plot, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) { m_pressPos = e->position(); });
    connect(m_plot, &QCustomPlot::mouseRelease, this, &ParetoView::onMouseRelease);
    connect(m_plot, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { redraw(); });
    connect(context, &plugins::ViewContext::projectChanged, this, &ParetoView::reload);
    connect(context, &plugins::ViewContext::projectRunsChanged, this, &ParetoView::reload);
    connect(context, &plugins::ViewContext::selectedRunChanged, this, &ParetoView::redrawKeepingZoom);
    connect(context, &plugins::ViewContext::planPreviewChanged, this, [this] {
        // A new predicted frontier refits the axes to it; the plan moving along it keeps the zoom.
        const auto before = m_data.preview ? m_data.preview->frontier : std::vector<std::pair<double, double>>{};
        addPreview();
        if (m_data.preview && m_data.preview->frontier != before) {
            redraw();
            return;
        }
        redrawKeepingZoom();
        m_status->setText(statusText());
    });
    reload();
}

ParetoStyle ParetoView::style() const {
    ParetoStyle s;
    s.x = m_x->currentData().toString().toStdString();
    s.y = m_y->currentData().toString().toStdString();
    s.logX = m_logX->isChecked();
    s.logY = m_logY->isChecked();
    s.range = ParetoRange(m_range->currentData().toInt());
    s.labels = m_labels->isChecked();
    s.selectedRunId = m_context->selectedRunId();
    return s;
}

void ParetoView::setAxes(const std::string& x, const std::string& y, ParetoGroup group) {
    m_x->setCurrentIndex(m_x->findData(QString::fromStdString(x)));
    m_y->setCurrentIndex(m_y->findData(QString::fromStdString(y)));
    m_group->setCurrentIndex(m_group->findData(int(group)));
    redraw();
}

void ParetoView::setLogAxes(bool logX, bool logY) {
    m_logX->setChecked(logX);
    m_logY->setChecked(logY);
}

void ParetoView::setRange(ParetoRange range) {
    m_range->setCurrentIndex(m_range->findData(int(range)));
}

void ParetoView::setLabels(bool on) {
    m_labels->setChecked(on);
}

void ParetoView::redrawKeepingZoom() {
    const QCPRange x = m_plot->xAxis->range(), y = m_plot->yAxis->range();
    drawPareto(m_plot, m_data, style());
    m_plot->xAxis->setRange(x);
    m_plot->yAxis->setRange(y);
    m_plot->replot();
}

void ParetoView::reload() {
    m_runs.clear();
    m_plans.clear();
    m_costs.clear();
    m_loadError.clear();
    const QString path = m_context->projectPath();
    if (!path.isEmpty()) {
        try {
            auto project = core::Project::open(path.toStdString(), false);
            m_runs = project->runs();
            m_plans = planSolvers(project->plans());
            for (const std::string& model : core::pricedCostModels(*project))
                for (const core::CostPoint& p : core::storedCostPoints(*project, model)) {
                    if (p.speedup > 0) m_costs[cyclesAxisKey(model)][p.runId] = 1.0 / p.speedup;
                    if (p.energyEfficiency > 0) m_costs[energyAxisKey(model)][p.runId] = 1.0 / p.energyEfficiency;
                }
        } catch (const std::exception& e) {
            m_loadError = QString::fromStdString(e.what());
        }
    }
    // The x choices: the size metrics, then one per priced cost model (the current choice kept).
    {
        const QSignalBlocker block(m_x);
        const QString current = m_x->currentData().toString();
        for (int i = m_x->count() - 1; i >= 0; --i)
            if (isCostAxis(m_x->itemData(i).toString().toStdString())) m_x->removeItem(i);
        for (const auto& [key, runs] : m_costs) {
            const QString figure = QString::fromStdString(key.substr(0, 6)), design = QString::fromStdString(key.substr(7));
            m_x->addItem(tr("%1 on %2 (relative)").arg(figure, design), QString::fromStdString(key));
            m_x->setItemData(m_x->count() - 1,
                             tr("Whole-model %1 on the %2 design relative to its baseline, for the %n run(s) priced "
                                "there (Hardware cost ▸ Price all runs)",
                                nullptr, int(runs.size()))
                                 .arg(figure, design),
                             Qt::ToolTipRole);
        }
        m_x->setCurrentIndex(std::max(0, m_x->findData(current)));
    }
    redraw();
}

void ParetoView::redraw() {
    // A metric that can be zero or negative has no log axis: the box is unticked and says why.
    const bool logPossible = !mayBeNonPositive(m_y->currentData().toString().toStdString());
    {
        const QSignalBlocker block(m_logY);
        if (!logPossible) m_logY->setChecked(false);
    }
    m_logY->setEnabled(logPossible);
    m_logY->setToolTip(logPossible ? tr("Logarithmic y axis")
                                   : tr("No log axis for %1: it can be zero or negative").arg(m_y->currentText()));
    const ParetoStyle s = style();
    m_data = buildParetoData(m_runs, s.x, s.y, ParetoGroup(m_group->currentData().toInt()), m_plans, m_costs);
    addPreview();
    drawPareto(m_plot, m_data, s);
    m_yRange = paretoYRange(m_data, s);
    m_status->setText(statusText());
}

void ParetoView::addPreview() {
    m_data.preview.reset();
    m_previewNote.clear();
    const auto& preview = m_context->planPreview();
    if (!preview) return;
    std::optional<double> fp32;
    for (const auto& run : m_runs)
        if (run.id == m_data.referenceRunId) fp32 = run.metrics.perplexity;
    const ParetoStyle s = style();
    m_previewNote = QString::fromStdString(
        addPlanPreview(m_data, preview->name.toStdString(), preview->frontier, preview->current, s.x, s.y, fp32));
}

QString ParetoView::statusText() const {
    if (!m_loadError.isEmpty()) return tr("Cannot read the project: %1").arg(m_loadError);
    if (m_context->projectPath().isEmpty()) return tr("No project open (File ▸ Open project…)");
    std::size_t n = 0;
    for (const auto& s : m_data.series)
        n += s.points.size();
    if (n == 0) return tr("No quantized run with these figures yet (run a sweep)");
    QString text = tr("%1 runs, %2 on the front").arg(n).arg(m_data.front.size());
    if (m_data.skipped) text += tr(", %1 without this figure").arg(m_data.skipped);
    if (m_yRange.outside) text += tr(", %n outside the y range (fit all)", nullptr, m_yRange.outside);
    if (!m_previewNote.isEmpty()) text += QStringLiteral("; ") + m_previewNote;
    return text;
}

std::int64_t ParetoView::selectAt(QPointF pixel) {
    const ParetoPoint* p = paretoPointAt(m_plot, m_data, pixel);
    if (!p) return 0;
    const std::int64_t id = p->runId;
    m_context->setSelectedRunId(id);
    return id;
}

void ParetoView::onMouseMove(QMouseEvent* event) {
    const ParetoPoint* p = paretoPointAt(m_plot, m_data, event->position());
    if (!p) {
        QToolTip::hideText();
        return;
    }
    bool onFront = false;
    for (const auto& f : m_data.front)
        onFront = onFront || f.runId == p->runId;
    QToolTip::showText(event->globalPosition().toPoint(), paretoTooltip(*p, style(), onFront), m_plot);
}

void ParetoView::onMouseRelease(QMouseEvent* event) {
    // A click, not the end of a drag.
    if (event->button() != Qt::LeftButton || (event->position() - m_pressPos).manhattanLength() > 4) return;
    selectAt(event->position());
}

} // namespace qs::views
