// SPDX-License-Identifier: MIT
#include "runs_view.h"

#include "experiment/cost_run.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace qs::views {

namespace {

QTableView* makeTable(QWidget* parent) {
    auto* t = new QTableView(parent);
    t->setSortingEnabled(true);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setAlternatingRowColors(true);
    t->verticalHeader()->setVisible(false);
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
    t->horizontalHeader()->setStretchLastSection(true);
    return t;
}

} // namespace

RunsView::RunsView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context), m_model(new RunsTableModel(this)), m_proxy(new RunsProxy(this)),
      m_compare(new LayerCompareModel(this)) {
    setObjectName(QStringLiteral("runsView"));
    m_proxy->setSourceModel(m_model);
    m_filter = new QLineEdit(this);
    m_filter->setObjectName(QStringLiteral("runsFilter"));
    m_filter->setPlaceholderText(tr("Filter by recipe or status, e.g. \"gptq int4\" or \"failed\""));
    m_filter->setClearButtonEnabled(true);
    m_status = new QLabel(this);

    m_table = makeTable(this);
    m_table->setObjectName(QStringLiteral("runsTable"));
    m_table->setModel(m_proxy);
    m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_table->sortByColumn(RunsTableModel::Id, Qt::AscendingOrder);
    m_table->setToolTip(tr("Select a run to show it everywhere; select two (Ctrl+click) to compare their layers; "
                           "right-click to load a run's recipe into the Parameters panel"));
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);

    auto* compareProxy = new QSortFilterProxyModel(this);
    compareProxy->setSourceModel(m_compare);
    compareProxy->setSortRole(LayerCompareModel::SortRole);
    m_compareTable = makeTable(this);
    m_compareTable->setObjectName(QStringLiteral("runsCompareTable"));
    m_compareTable->setModel(compareProxy);
    m_compareTitle = new QLabel(tr("Select two runs to compare their layers."), this);
    m_compareTitle->setWordWrap(true);

    auto* top = new QWidget(this);
    auto* topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    auto* filterRow = new QHBoxLayout;
    filterRow->addWidget(m_filter, 1);
    filterRow->addWidget(m_status);
    topLayout->addLayout(filterRow);
    topLayout->addWidget(m_table, 1);
    auto* bottom = new QWidget(this);
    auto* bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    bottomLayout->addWidget(m_compareTitle);
    bottomLayout->addWidget(m_compareTable, 1);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(bottom);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);

    connect(m_filter, &QLineEdit::textChanged, m_proxy, &RunsProxy::setTextFilter);
    connect(m_table, &QWidget::customContextMenuRequested, this, &RunsView::showContextMenu);
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this, &RunsView::onSelectionChanged);
    connect(context, &plugins::ViewContext::projectChanged, this, &RunsView::reload);
    connect(context, &plugins::ViewContext::projectRunsChanged, this, &RunsView::reload);
    connect(context, &plugins::ViewContext::selectedRunChanged, this, &RunsView::followContext);
    reload();
}

void RunsView::reload() {
    std::vector<core::RunRecord> runs;
    RunsTableModel::RunSpeedups speedups;
    m_status->clear();
    const QString path = m_context->projectPath();
    if (path.isEmpty()) {
        m_status->setText(tr("No project open"));
    } else {
        try {
            auto project = core::Project::open(path.toStdString(), false);
            runs = project->runs();
            for (const std::string& model : core::pricedCostModels(*project)) {
                auto& byRun = speedups.emplace_back(model, std::map<std::int64_t, double>{}).second;
                for (const core::CostPoint& p : core::storedCostPoints(*project, model)) byRun[p.runId] = p.speedup;
            }
            m_status->setText(tr("%n run(s)", nullptr, static_cast<int>(runs.size())));
        } catch (const std::exception& e) {
            m_status->setText(tr("Cannot read the project: %1").arg(QString::fromStdString(e.what())));
        }
    }
    m_model->setRuns(std::move(runs), std::move(speedups));
    m_compare->clear();
    m_table->resizeColumnsToContents();
    followContext(m_context->selectedRunId());
}

void RunsView::compare(qint64 a, qint64 b) {
    const int ra = m_model->rowOf(a), rb = m_model->rowOf(b);
    if (ra < 0 || rb < 0) return;
    const auto& runA = m_model->runs()[static_cast<std::size_t>(ra)];
    const auto& runB = m_model->runs()[static_cast<std::size_t>(rb)];
    try {
        auto project = core::Project::open(m_context->projectPath().toStdString(), false);
        m_compare->setRuns(QStringLiteral("A"), project->layers(a), QStringLiteral("B"), project->layers(b));
    } catch (const std::exception& e) {
        m_compare->clear();
        m_compareTitle->setText(tr("Cannot read the layers: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    m_compareTitle->setText(
        tr("A = run %1 (%2)   ·   B = run %3 (%4)%5")
            .arg(a)
            .arg(QString::fromStdString(runA.recipeLabel))
            .arg(b)
            .arg(QString::fromStdString(runB.recipeLabel))
            .arg(m_compare->rowCount() == 0 ? tr("   ·   no per-layer results stored (fp32 or failed runs)")
                                            : QString()));
    m_compareTable->resizeColumnsToContents();
}

void RunsView::onSelectionChanged() {
    if (m_following) return;
    const QModelIndexList rows = m_table->selectionModel()->selectedRows();
    if (rows.size() == 1) m_context->setSelectedRunId(rows[0].data(RunsTableModel::RunIdRole).toLongLong());
    if (rows.size() == 2) {
        // A is the row higher up in the table.
        QModelIndex a = rows[0], b = rows[1];
        if (a.row() > b.row()) std::swap(a, b);
        compare(a.data(RunsTableModel::RunIdRole).toLongLong(), b.data(RunsTableModel::RunIdRole).toLongLong());
    }
}

QAction* RunsView::loadIntoFormAction(QMenu* menu, const QModelIndex& row) {
    QAction* load = menu->addAction(tr("Load into form"));
    load->setObjectName(QStringLiteral("loadIntoFormAction"));
    const int source = row.isValid() ? m_model->rowOf(row.data(RunsTableModel::RunIdRole).toLongLong()) : -1;
    if (source < 0) {
        load->setEnabled(false);
        return load;
    }
    const core::RunRecord& run = m_model->runs()[static_cast<std::size_t>(source)];
    if (run.recipe == "{}") {
        // The Parameters panel always quantizes the weights: the reference has nothing to put there.
        load->setEnabled(false);
        load->setText(tr("Load into form (the fp32 reference has no recipe)"));
        return load;
    }
    load->setToolTip(tr("Put run %1's recipe (%2) into the Parameters panel and its layer rules into the "
                        "layer table, to change it and run again")
                         .arg(run.id)
                         .arg(QString::fromStdString(run.recipeLabel)));
    const qint64 id = run.id;
    connect(load, &QAction::triggered, this, [this, id] { m_context->requestRecipeLoad(id); });
    return load;
}

void RunsView::showContextMenu(const QPoint& pos) {
    QMenu menu(this);
    loadIntoFormAction(&menu, m_table->indexAt(pos));
    menu.exec(m_table->viewport()->mapToGlobal(pos));
}

void RunsView::followContext(qint64 id) {
    const int source = m_model->rowOf(id);
    if (source < 0) return;
    const QModelIndex row = m_proxy->mapFromSource(m_model->index(source, 0));
    if (!row.isValid()) return;
    const QModelIndexList current = m_table->selectionModel()->selectedRows();
    if (current.size() == 1 && current[0].row() == row.row()) return;
    m_following = true;
    m_table->selectionModel()->select(row, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_table->scrollTo(row);
    m_following = false;
}

} // namespace qs::views
