// SPDX-License-Identifier: MIT
#include "layer_table_view.h"

#include "layer_table_model.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
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
    for (int c = LayerTableModel::BitsPerWeight; c <= LayerTableModel::Sqnr; ++c)
        m_table->setColumnHidden(c, true);
    // The recipe's per-layer assignment and what it did (bits, error, SQNR) read best beside the name, not
    // past a horizontal scroll; the model keeps its column order, so CSV columns stay where scripts
    // expect them.
    QHeaderView* header = m_table->horizontalHeader();
    int next = header->visualIndex(LayerTableModel::Name) + 1;
    for (int c : {int(LayerTableModel::Assignment), int(LayerTableModel::BitsPerWeight), int(LayerTableModel::Mse),
                  int(LayerTableModel::Sqnr)})
        header->moveSection(header->visualIndex(c), next++);

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
    // A long name should not push the results out of sight: its start is elided instead (the end tells
    // rows apart; the tooltip has it whole).
    m_table->setColumnWidth(LayerTableModel::Name, std::min(m_table->columnWidth(LayerTableModel::Name),
                                                            m_table->fontMetrics().averageCharWidth() * 36));
    onContextSelection(m_context->selectedLayer());
}

void LayerTableView::onQuantResultChanged() {
    const bool show = m_context->quantResult().has_value();
    if (show == m_quantColumnsShown) return;
    m_quantColumnsShown = show;
    for (int c = LayerTableModel::BitsPerWeight; c <= LayerTableModel::Sqnr; ++c) {
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

QStringList LayerTableView::selectedQuantizableNames() const {
    QStringList names;
    for (const QModelIndex& i : m_table->selectionModel()->selectedRows()) {
        const int row = m_proxy->mapToSource(i).row();
        if (m_context->layers()[static_cast<std::size_t>(row)].info.quantizable) names << m_model->nameAt(row);
    }
    names.sort();
    return names;
}

void LayerTableView::setRuleForSelection(const QString& spec) {
    const QStringList names = selectedQuantizableNames();
    if (names.isEmpty()) return;
    nlohmann::json rules = nlohmann::json::array();
    // A selected weight's own earlier rule is replaced, so the list does not grow with every edit.
    for (const auto& r : m_context->layerRules()) {
        const std::string match = r.value("match", std::string());
        if (!names.contains(QString::fromStdString(match + ".weight")) && !names.contains(QString::fromStdString(match)))
            rules.push_back(r);
    }
    if (!spec.isEmpty())
        for (const QString& name : names)
            rules.push_back(core::layerRuleJsonFromFlag(core::ruleName(name.toStdString()) + "=" + spec.toStdString()));
    m_context->setLayerRules(std::move(rules));
}

QString LayerTableView::filterGlob() const {
    const QString f = m_filter->text().trimmed();
    if (f.isEmpty()) return {};
    // The filter shows names containing the text; a pattern with wildcards is taken as the glob itself.
    return f.contains(QLatin1Char('*')) || f.contains(QLatin1Char('?')) ? f : QStringLiteral("*%1*").arg(f);
}

namespace {
// Why a --layer SPEC cannot be a rule ("" when it can): the checks the recipe gate makes of its fields
// alone (the fields it leaves out follow the recipe's default).
QString ruleSpecError(const QString& spec) {
    const std::string text = spec.trimmed().toStdString();
    if (text.empty()) return QStringLiteral("empty format");
    if (text == "keep") return {};
    try {
        core::QuantSpec::fromJson(core::specKeysFromString(text, "format"));
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}
} // namespace

bool LayerTableView::addRuleForFilter(const QString& spec) {
    const QString glob = filterGlob();
    if (glob.isEmpty() || !ruleSpecError(spec).isEmpty()) return false;
    const nlohmann::json rule = core::layerRuleJsonFromFlag(glob.toStdString() + "=" + spec.trimmed().toStdString());
    bool matches = false;
    for (const auto& l : m_context->layers())
        matches = matches || (l.info.quantizable && core::globMatch(glob.toStdString(), core::ruleName(l.info.name)));
    if (!matches) return false; // the recipe gate would refuse a rule that names no weight
    nlohmann::json rules = m_context->layerRules();
    rules.push_back(rule);
    m_context->setLayerRules(std::move(rules));
    return true;
}

bool LayerTableView::askRuleForSelection() {
    const QStringList names = selectedQuantizableNames();
    if (names.isEmpty()) return false;
    bool ok = false;
    const QString spec = QInputDialog::getText(
        this, tr("Quantize selected layers"),
        tr("Format for the %n selected weight(s), as FORMAT[:tensor|channel|group|block][:N][:sym|asym];\n"
           "fields left out follow the recipe's default (e.g. int8:channel:sym, int3, nvfp4):",
           nullptr, static_cast<int>(names.size())),
        QLineEdit::Normal, QStringLiteral("int8:channel:sym"), &ok);
    if (!ok || spec.trimmed().isEmpty()) return false;
    if (const QString why = ruleSpecError(spec); !why.isEmpty()) {
        QMessageBox::warning(this, tr("Quantize selected layers"), why);
        return false;
    }
    setRuleForSelection(spec.trimmed());
    return true;
}

void LayerTableView::showContextMenu(const QPoint& pos) {
    QMenu menu(this);
    const bool any = !selectedQuantizableNames().isEmpty();
    QAction* quantize = menu.addAction(tr("Quantize selected as…"));
    quantize->setEnabled(any);
    connect(quantize, &QAction::triggered, this, [this] { askRuleForSelection(); });
    QAction* keep = menu.addAction(tr("Keep selected unquantized"));
    keep->setEnabled(any);
    connect(keep, &QAction::triggered, this, [this] { setRuleForSelection(QStringLiteral("keep")); });
    QAction* reset = menu.addAction(tr("Selected back to the default"));
    reset->setEnabled(any);
    connect(reset, &QAction::triggered, this, [this] { setRuleForSelection({}); });
    const QString glob = filterGlob();
    QAction* byFilter = menu.addAction(glob.isEmpty() ? tr("Add a rule for the filter… (type a filter first)")
                                                      : tr("Add a rule for every weight matching %1…").arg(glob));
    byFilter->setEnabled(!glob.isEmpty());
    connect(byFilter, &QAction::triggered, this, [this, glob] {
        bool ok = false;
        const QString spec = QInputDialog::getText(
            this, tr("Layer rule"),
            tr("SPEC for the weights matching %1: keep, or FORMAT[:tensor|channel|group|block][:N][:sym|asym]")
                .arg(glob),
            QLineEdit::Normal, QStringLiteral("int8:channel:sym"), &ok);
        if (ok && !addRuleForFilter(spec))
            QMessageBox::warning(this, tr("Layer rule"),
                                 tr("'%1=%2' is not a valid rule, or it matches no quantizable weight.").arg(glob, spec));
    });
    QAction* clear = menu.addAction(tr("Clear all layer rules"));
    clear->setEnabled(!m_context->layerRules().empty());
    connect(clear, &QAction::triggered, this, [this] { m_context->setLayerRules(nlohmann::json::array()); });
    if (!any)
        for (QAction* a : {quantize, keep, reset})
            a->setToolTip(tr("Select rows of quantizable weights (decoder Linear layers) first"));
    menu.addSeparator();
    QAction* selected = menu.addAction(tr("Copy selected rows as CSV"));
    selected->setShortcut(QKeySequence::Copy);
    connect(selected, &QAction::triggered, this, [this] { copyCsv(true); });
    connect(menu.addAction(tr("Copy table as CSV")), &QAction::triggered, this, [this] { copyCsv(false); });
    menu.exec(m_table->viewport()->mapToGlobal(pos));
}

} // namespace qs::views
