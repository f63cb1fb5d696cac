// SPDX-License-Identifier: MIT
// The Runs view's models (QtCore only, tested without widgets).
#pragma once
#include "store/project.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace qs::views {

/// One row per run of a project: id, recipe, status and its figures. Display text is rounded;
/// SortRole gives exact numbers so sorting is numeric (missing values sort first).
class RunsTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    /// The leading columns; the run metrics of core::runMetricTable() (but the reference's own
    /// figures) follow in the table's order, then a speedup per priced cost model, then seconds()
    /// and finished().
    enum Column { Id, Recipe, Method, Format, Status, FirstMetric };
    /// Column of a run metric by key (core/store/run_metrics.h), -1 when it has none.
    static int metricColumn(std::string_view key);
    /// The metric a column shows, nullptr for the other columns.
    static const core::RunMetric* metricAt(int column);
    /// Column of the speedup on cost model `model`, -1 when no run was priced on it.
    int speedupColumn(const std::string& model) const;
    /// The wall-time and finish-time columns, and the count.
    int seconds() const;
    int finished() const;
    int columnTotal() const;
    /// Extra item roles.
    enum Role {
        SortRole = Qt::UserRole + 1, ///< exact value (number or text) to sort by
        RunIdRole,                   ///< the run's id (qint64), in every column
    };

    /// An empty model.
    explicit RunsTableModel(QObject* parent = nullptr);

    /// Per priced cost model (sorted by name): run id -> whole-model speedup over the design's baseline.
    using RunSpeedups = std::vector<std::pair<std::string, std::map<std::int64_t, double>>>;

    /// Replaces the runs and their speedups (a model reset).
    void setRuns(std::vector<core::RunRecord> runs, RunSpeedups speedups = {});
    /// The runs, in the order given.
    const std::vector<core::RunRecord>& runs() const { return m_runs; }
    /// Row of a run by id, -1 when absent.
    int rowOf(qint64 id) const;

    /// Number of runs (0 under a valid parent).
    int rowCount(const QModelIndex& parent = {}) const override;
    /// ColumnCount (0 under a valid parent).
    int columnCount(const QModelIndex& parent = {}) const override;
    /// Display text, alignment, tooltips, SortRole and RunIdRole.
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    /// Column titles.
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QVariant value(const core::RunRecord& run, int column) const;
    /// Index into m_speedups of a speedup column, -1 for the other columns.
    int speedupAt(int column) const;
    std::vector<core::RunRecord> m_runs;
    RunSpeedups m_speedups;
};

/// Filter and sort of the runs table: a case-insensitive text filter over recipe label and status
/// (every word must match one of them), numeric sorting through SortRole.
class RunsProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    /// A proxy sorting by RunsTableModel::SortRole.
    explicit RunsProxy(QObject* parent = nullptr);
    /// Shows the runs whose label or status contains every word of `text` (empty shows all).
    void setTextFilter(const QString& text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    QStringList m_words;
};

/// Two runs' per-layer results side by side: MSE, SQNR and bits/weight of each and B − A.
/// Rows follow A's layer order, then layers only B has.
class LayerCompareModel : public QAbstractTableModel {
    Q_OBJECT
public:
    /// Columns, in display order.
    enum Column { Name, MseA, MseB, SqnrA, SqnrB, SqnrDelta, BitsA, BitsB, BitsDelta, ColumnCount };
    /// SortRole as in RunsTableModel.
    enum Role { SortRole = Qt::UserRole + 1 };

    /// An empty comparison.
    explicit LayerCompareModel(QObject* parent = nullptr);
    /// Compares `a` (labelled `nameA`) with `b`.
    void setRuns(const QString& nameA, std::vector<core::LayerResultRecord> a, const QString& nameB,
                 std::vector<core::LayerResultRecord> b);
    /// Clears the comparison.
    void clear();

    /// Number of layers.
    int rowCount(const QModelIndex& parent = {}) const override;
    /// ColumnCount.
    int columnCount(const QModelIndex& parent = {}) const override;
    /// Display text (∞ for an exact layer's SQNR), SortRole values, red/green for the differences.
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    /// Column titles naming the runs.
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Row {
        QString name;
        const core::LayerResultRecord* a = nullptr;
        const core::LayerResultRecord* b = nullptr;
    };
    QVariant value(const Row& row, int column) const;

    QString m_nameA, m_nameB;
    std::vector<core::LayerResultRecord> m_a, m_b;
    std::vector<Row> m_rows;
};

} // namespace qs::views
