// SPDX-License-Identifier: MIT
#include "layer_summary_plugin.h"

#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <array>
#include <quantscope/plugin/view_context.h>

namespace qs::plugins::example {
namespace {

constexpr std::array kRoles{core::WeightRole::Linear, core::WeightRole::Embedding, core::WeightRole::Head,
                            core::WeightRole::Norm,   core::WeightRole::Bias,      core::WeightRole::Other};

struct RoleRow {
    int tensors = 0;
    std::int64_t params = 0;
    int quantized = 0;
    std::int64_t quantizedParams = 0;
};

class LayerSummaryView : public QWidget {
public:
    LayerSummaryView(ViewContext* context, QWidget* parent) : QWidget(parent), m_context(context) {
        auto* layout = new QVBoxLayout(this);
        m_caption = new QLabel(this);
        m_caption->setWordWrap(true);
        m_table = new QTableWidget(this);
        m_table->setColumnCount(5);
        m_table->setHorizontalHeaderLabels(
            {tr("Role"), tr("Tensors"), tr("Parameters"), tr("Share of model"), tr("Quantized tensors")});
        m_table->verticalHeader()->hide();
        m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
        m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
        m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
        m_table->horizontalHeader()->setStretchLastSection(true);
        layout->addWidget(m_caption);
        layout->addWidget(m_table);
        connect(context, &ViewContext::layersChanged, this, &LayerSummaryView::refresh);
        connect(context, &ViewContext::quantResultChanged, this, &LayerSummaryView::refresh);
        refresh();
    }

private:
    void refresh() {
        std::array<RoleRow, kRoles.size()> rows{};
        std::int64_t total = 0;
        for (const auto& layer : m_context->layers()) {
            const auto role = static_cast<std::size_t>(
                std::find(kRoles.begin(), kRoles.end(), layer.info.role) - kRoles.begin());
            if (role >= rows.size()) continue;
            const std::int64_t n = core::numel(layer.info.shape);
            rows[role].tensors += 1;
            rows[role].params += n;
            total += n;
            if (m_context->layerResult(QString::fromStdString(layer.info.name))) {
                rows[role].quantized += 1;
                rows[role].quantizedParams += n;
            }
        }
        const QLocale locale(QLocale::English);
        m_table->setRowCount(0);
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (rows[i].tensors == 0) continue;
            const int r = m_table->rowCount();
            m_table->insertRow(r);
            const auto set = [&](int col, const QString& text) {
                auto* item = new QTableWidgetItem(text);
                if (col > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
                m_table->setItem(r, col, item);
            };
            set(0, QString::fromLatin1(core::weightRoleName(kRoles[i])));
            set(1, QString::number(rows[i].tensors));
            set(2, locale.toString(static_cast<qlonglong>(rows[i].params)));
            set(3, QStringLiteral("%1 %").arg(
                       100.0 * static_cast<double>(rows[i].params) / static_cast<double>(total), 0, 'f', 1));
            set(4, m_context->quantResult() ? QString::number(rows[i].quantized) : QStringLiteral("—"));
        }
        if (m_context->layers().empty())
            m_caption->setText(tr("Open a model to see how its parameters split over weight roles."));
        else
            m_caption->setText(tr("%1 parameters in %2 tensors.")
                                   .arg(locale.toString(static_cast<qlonglong>(total)))
                                   .arg(m_context->layers().size()));
    }

    ViewContext* m_context;
    QLabel* m_caption;
    QTableWidget* m_table;
};

} // namespace

QWidget* LayerSummaryPlugin::createView(ViewContext* context, QWidget* parent) {
    return new LayerSummaryView(context, parent);
}

} // namespace qs::plugins::example
