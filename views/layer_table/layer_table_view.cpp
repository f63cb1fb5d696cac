// SPDX-License-Identifier: MIT
#include "layer_table_view.h"

#include "layer_table_model.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QTableView>
#include <QVBoxLayout>
#include <algorithm>

namespace qs::views {

LayerTableView::LayerTableView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context), m_model(new LayerTableModel(context, this)),
      m_proxy(new LayerTableProxy(this)) {
    setObjectName(QStringLiteral("layerTableView"));
    m_proxy->setSourceModel(m_model);

    m_filter = new QLineEdit(this);
    m_filter->setObjectName(QStringLiteral("layerFilter"));
    m_filter->setPlaceholderText(tr("Filter layers (e.g. mlp, *.q_proj)"));
    m_filter->setClearButtonEnabled(true);
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("layerSummary"));

    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("layerTable"));
    m_table->setModel(m_proxy);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->setTextElideMode(Qt::ElideLeft); // the end of a name (block, projection) tells rows apart
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setHighlightSections(false);
    m_table->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder); // file order until a click
    m_table->horizontalHeader()->setSortIndicatorClearable(true);
    m_table->setSortingEnabled(true);
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    for (int c = LayerTableModel::BitsPerWeight; c < LayerTableModel::ColumnCount; ++c)
        m_table->setColumnHidden(c, true);

    auto* copy = new QAction(tr("Copy selected rows as CSV"), m_table);
    copy->setShortcut(QKeySequence::Copy);
    copy->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(copy, &QAction::triggered, this, [this] { copyCsv(true); });
    m_table->addAction(copy);

    auto* top = new QHBoxLayout;
    top->setContentsMargins(0, 0, 0, 0);
    top->addWidget(m_filter, 1);
    top->addWidget(m_summary);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(top);
    layout->addWidget(m_table, 1);

    connect(m_filter, &QLineEdit::textChanged, this, [this](const QString& text) {
        m_proxy->setNameFilter(text);
        updateSummary();
    });
    connect(m_table, &QWidget::customContextMenuRequested, this, &LayerTableView::showContextMenu);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &LayerTableView::onCurrentRowChanged);
    connect(context, &plugins::ViewContext::layersChanged, this, &LayerTableView::onLayersChanged);
    connect(context, &plugins::ViewContext::modelChanged, this, &LayerTableView::onLayersChanged);
    connect(context, &plugins::ViewContext::quantResultChanged, this, &LayerTableView::onQuantResultChanged);
    connect(context, &plugins::ViewContext::selectedLayerChanged, this, &LayerTableView::onContextSelection);
    onLayersChanged();
}

void LayerTableView::onLayersChanged() {
    updateSummary();
    if (m_model->rowCount() == 0) return;
    m_table->resizeColumnsToContents();
    // A long name should not push every number out of sight: it is elided in the middle instead.
    m_table->setColumnWidth(LayerTableModel::Name, std::min(m_table->columnWidth(LayerTableModel::Name),
                                                            m_table->fontMetrics().averageCharWidth() * 44));
    onContextSelection(m_context->selectedLayer());
}

void LayerTableView::onQuantResultChanged() {
    const bool show = m_context->quantResult().has_value();
    if (show == m_quantColumnsShown) return;
    m_quantColumnsShown = show;
    for (int c = LayerTableModel::BitsPerWeight; c < LayerTableModel::ColumnCount; ++c) {
        m_table->setColumnHidden(c, !show);
        if (show) {
            const QString title = m_model->headerData(c, Qt::Horizontal).toString();
            const int header = m_table->horizontalHeader()->fontMetrics().horizontalAdvance(title) + 24;
            m_table->setColumnWidth(
                c,
                std::max(header, m_table->fontMetrics().horizontalAdvance(QStringLiteral("0.00e-00")) + 16));
        }
    }
}

void LayerTableView::onContextSelection(const QString& name) {
    const int row = m_model->rowOf(name);
    const QModelIndex current = m_table->currentIndex();
    if (row < 0) {
        if (name.isEmpty()) m_table->clearSelection();
        return;
    }
    const QModelIndex proxyIndex = m_proxy->mapFromSource(m_model->index(row, 0));
    if (!proxyIndex.isValid()) return; // filtered out: the selection stays, just not visible here
    if (current.isValid() && current.row() == proxyIndex.row()) return;
    m_table->selectionModel()->setCurrentIndex(proxyIndex, QItemSelectionModel::ClearAndSelect |
                                                               QItemSelectionModel::Rows);
    m_table->scrollTo(proxyIndex);
}

void LayerTableView::onCurrentRowChanged() {
    const QModelIndex current = m_table->currentIndex();
    if (!current.isValid()) return;
    m_context->setSelectedLayer(m_model->nameAt(m_proxy->mapToSource(current).row()));
}

void LayerTableView::updateSummary() {
    const int total = m_model->rowCount();
    const int shown = m_proxy->rowCount();
    int quantizable = 0;
    for (const auto& l : m_context->layers())
        quantizable += l.info.quantizable ? 1 : 0;
    if (total == 0)
        m_summary->clear();
    else if (shown == total)
        m_summary->setText(tr("%1 weights · %2 quantizable").arg(total).arg(quantizable));
    else
        m_summary->setText(tr("%1 of %2 weights").arg(shown).arg(total));
}

QString LayerTableView::csv(bool selectedOnly) const {
    QList<int> rows;
    if (selectedOnly) {
        auto selected = m_table->selectionModel()->selectedRows();
        std::sort(selected.begin(), selected.end(),
                  [](const QModelIndex& a, const QModelIndex& b) { return a.row() < b.row(); });
        for (const QModelIndex& i : selected)
            rows << m_proxy->mapToSource(i).row();
    }
    if (rows.isEmpty())
        for (int r = 0; r < m_proxy->rowCount(); ++r)
            rows << m_proxy->mapToSource(m_proxy->index(r, 0)).row();
    return m_model->toCsv(rows);
}

void LayerTableView::copyCsv(bool selectedOnly) {
    QApplication::clipboard()->setText(csv(selectedOnly));
}

void LayerTableView::showContextMenu(const QPoint& pos) {
    QMenu menu(this);
    QAction* selected = menu.addAction(tr("Copy selected rows as CSV"));
    selected->setShortcut(QKeySequence::Copy);
    connect(selected, &QAction::triggered, this, [this] { copyCsv(true); });
    connect(menu.addAction(tr("Copy table as CSV")), &QAction::triggered, this, [this] { copyCsv(false); });
    menu.exec(m_table->viewport()->mapToGlobal(pos));
}

} // namespace qs::views
