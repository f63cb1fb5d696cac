// SPDX-License-Identifier: MIT
#include "misalignment_view.h"

#include "common/analysis_panel.h"
#include "common/param_form.h"
#include "common/plot_export.h"
#include "misalignment_plot.h"

#include <QComboBox>
#include <QLabel>
#include <cmath>
#include <map>
#include <qcustomplot.h>
#include <stdexcept>

namespace qs::views {
namespace {

QString figure(const nlohmann::json& v, int digits = 3) {
    return v.is_number() ? QString::number(v.get<double>(), 'f', digits) : QStringLiteral("–");
}

} // namespace

MisalignmentView::MisalignmentView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_panel(new AnalysisPanel(context, "misalignment", AnalysisPanel::Data::Evaluation, 8, this)),
      m_global(new QComboBox(this)), m_note(new QLabel(this)), m_scatter(new QCustomPlot(this)) {
    setObjectName(QStringLiteral("misalignmentView"));
    m_global->setObjectName(QStringLiteral("misalignmentGlobal"));
    m_global->addItem(tr("change of loss (NLL)"), QStringLiteral("delta_loss"));
    m_global->addItem(tr("KL to fp32"), QStringLiteral("kld"));
    m_global->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_global->setMinimumContentsLength(14);
    m_note->setObjectName(QStringLiteral("misalignmentNote"));
    m_note->setWordWrap(true);
    m_note->setTextFormat(Qt::RichText);
    m_scatter->setObjectName(QStringLiteral("misalignmentScatter"));
    m_scatter->setMinimumSize(260, 240);
    installPlotExportMenu(m_scatter, [this] { return QStringLiteral("misalignment_") + m_global->currentData().toString(); });

    // The weight is the selected one unless the form names another; the local objective reads the
    // calibration data.
    m_panel->setRequestHook([this](core::AnalysisRequest& r) {
        if (r.params.value("layer", std::string()).empty()) {
            if (m_context->selectedLayer().isEmpty())
                throw std::runtime_error(tr("Select a weight (Layers table) or name one in the form.").toStdString());
            r.params["layer"] = m_context->selectedLayer().toStdString();
        }
        if (m_context->data().calibration.isEmpty())
            throw std::runtime_error(tr("The local objective reads the calibration data (toolbar ▸ Data ▸ Calibration "
                                        "data…)").toStdString());
        r.calibPath = m_context->data().calibration.toStdString();
    });

    layOutAnalysisView(this, m_note, m_panel, tr("Global:"), m_global, m_scatter);

    connect(m_panel, &AnalysisPanel::changed, this, &MisalignmentView::redraw);
    connect(m_global, &QComboBox::currentIndexChanged, this, &MisalignmentView::redraw);
    redraw();
}

void MisalignmentView::setGlobal(const QString& key) { m_global->setCurrentIndex(m_global->findData(key)); }

QString MisalignmentView::noteText() const { return m_note->text(); }

void MisalignmentView::redraw() {
    m_scatter->clearGraphs();
    const auto& outcome = m_panel->outcome();
    const std::string key = m_global->currentData().toString().toStdString();
    QString note;
    if (!outcome || !outcome->output.summary.contains("per_format")) {
        note = tr("Measure ▸ for the selected weight, many quantizations of each format (RTN clipping rules, GPTQ "
                  "variants, AWQ, GPTVQ, QAT with QAT steps > 0, random re-roundings, RTN/GPTQ mixes) scored by the "
                  "layer-local objective on the calibration "
                  "data and by the global loss on the evaluation data, and how well the one ranks the other.");
    } else {
        const nlohmann::json& s = outcome->output.summary;
        const nlohmann::json& perFormat = s["per_format"];
        const std::vector<std::string> formats = misalignmentFormats(s); // per_format's keys are sorted
        QString table = QStringLiteral("<table cellspacing=6><tr><th align=left>%1</th><th>%2</th><th>%3</th><th>%4</th>"
                                       "<th>%5</th><th>%6</th></tr>")
                            .arg(tr("format"), tr("candidates"), tr("Spearman ΔNLL"), tr("Kendall ΔNLL"),
                                 tr("misranked pairs"), tr("Spearman KL"));
        for (std::size_t i = 0; i < formats.size(); ++i) {
            const nlohmann::json c = perFormat.value(formats[i], nlohmann::json::object());
            table += QStringLiteral("<tr><td>%1</td><td align=right>%2</td><td align=right>%3</td><td align=right>%4</td>"
                                    "<td align=right>%5</td><td align=right>%6</td></tr>")
                         .arg(QString::fromStdString(formats[i]).toHtmlEscaped())
                         .arg(c.value("candidates", 0))
                         .arg(figure(c["spearman_delta_loss"]), figure(c["kendall_delta_loss"]),
                              figure(c["misranking_delta_loss"]), figure(c["spearman_kld"]));
        }
        table += QStringLiteral("</table>");
        drawMisalignment(m_scatter, s, key);
        note = tr("<b>%1</b>: %2 candidates on %3 calibration tokens; pooled Spearman ρ(local, ΔNLL) %4, "
                  "ρ(local, KL) %5. The paper found weaker agreement as precision drops: compare the formats' rows.")
                   .arg(QString::fromStdString(s.value("layer", std::string())).toHtmlEscaped())
                   .arg(s["candidates"].size())
                   .arg(s.value("calibration_tokens", 0LL))
                   .arg(figure(s["pooled"]["spearman_delta_loss"]), figure(s["pooled"]["spearman_kld"])) +
               table;
    }
    m_note->setText(note); // the panel shows its own status
    m_scatter->replot();
}

} // namespace qs::views
