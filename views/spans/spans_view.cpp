// SPDX-License-Identifier: MIT
#include "spans_view.h"

#include "common/analysis_panel.h"
#include "common/layer_names.h"
#include "common/plot_export.h"
#include "spans_plot.h"

#include <QComboBox>
#include <QLabel>
#include <QMouseEvent>
#include <cmath>
#include <qcustomplot.h>

namespace qs::views {

SpansView::SpansView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_panel(new AnalysisPanel(context, "spans", AnalysisPanel::Data::Evaluation, 8, this)),
      m_figure(new QComboBox(this)), m_note(new QLabel(this)), m_heatmap(new QCustomPlot(this)) {
    setObjectName(QStringLiteral("spansView"));
    m_figure->setObjectName(QStringLiteral("spansFigure"));
    m_figure->addItem(tr("span (the head's, at the quantile)"), QStringLiteral("span"));
    m_figure->addItem(tr("median span of its queries"), QStringLiteral("median"));
    m_figure->addItem(tr("95th percentile of its queries"), QStringLiteral("p95"));
    m_figure->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_figure->setMinimumContentsLength(16);
    m_note->setObjectName(QStringLiteral("spansNote"));
    m_note->setWordWrap(true);
    m_heatmap->setObjectName(QStringLiteral("spansHeatmap"));
    m_heatmap->setMinimumSize(260, 240);
    installPlotExportMenu(m_heatmap, [this] { return QStringLiteral("spans_") + m_figure->currentData().toString(); });

    layOutAnalysisView(this, m_note, m_panel, tr("Colour:"), m_figure, m_heatmap);

    connect(m_panel, &AnalysisPanel::changed, this, &SpansView::redraw);
    connect(m_figure, &QComboBox::currentIndexChanged, this, &SpansView::redraw);
    connect(m_heatmap, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
        selectLayer(static_cast<int>(std::lround(m_heatmap->xAxis->pixelToCoord(e->position().x()))));
    });
    redraw();
}

void SpansView::setFigure(const QString& key) { m_figure->setCurrentIndex(m_figure->findData(key)); }

QString SpansView::noteText() const { return m_note->text(); }

bool SpansView::selectLayer(int layer) { return m_panel->outcome() && selectDecoderLayer(*m_context, layer); }

void SpansView::redraw() {
    m_heatmap->clearPlottables();
    if (auto* scale = m_heatmap->findChild<QCPColorScale*>()) m_heatmap->plotLayout()->remove(scale);
    const auto& outcome = m_panel->outcome();
    QString note;
    if (!outcome || !outcome->output.arrays.count("span")) {
        note = tr("Measure ▸ for every head, the recent keys (with a few sink keys) holding the chosen share of each "
                  "query's attention on the evaluation data, and the perplexity with attention masked to them.");
    } else {
        const nlohmann::json& s = outcome->output.summary;
        note = tr("Spans at mass %1 (%2 sink keys, quantile %3), %4-token windows: perplexity %5 masked against %6 "
                  "full (KL %7, top-1 %8 %); attention work saved %9 %, KV cache kept %10 %.")
                   .arg(s.value("mass", 0.0))
                   .arg(s.value("sinks", 0))
                   .arg(s.value("quantile", 0.0))
                   .arg(s.value("ctx", 0))
                   .arg(s.value("perplexity", 0.0), 0, 'f', 4)
                   .arg(s.value("reference_perplexity", 0.0), 0, 'f', 4)
                   .arg(s.value("kld", 0.0), 0, 'g', 3)
                   .arg(100 * s.value("top1_agreement", 0.0), 0, 'f', 2)
                   .arg(100 * s.value("attention_work_saved", 0.0), 0, 'f', 1)
                   .arg(100 * s.value("kv_kept_fraction", 0.0), 0, 'f', 1);
        const Eigen::MatrixXd& m = outcome->output.arrays.at(m_figure->currentData().toString().toStdString());
        drawSpansHeatmap(m_heatmap, m, s.value("ctx", 1), tr("keys"));
    }
    if (!m_panel->status().isEmpty()) note += QStringLiteral("<br>") + m_panel->status().toHtmlEscaped();
    m_note->setText(note);
    m_heatmap->replot();
}

} // namespace qs::views
