// SPDX-License-Identifier: MIT
#pragma once
#include <QAbstractTableModel>
#include <QList>
#include <QSortFilterProxyModel>
#include <quantscope/plugin/view_context.h>

namespace qs::views {

/// One row per weight of the open model: its statistics and, after a quantization run, its error.
/// Reads everything from a ViewContext and follows its signals. Display text is rounded for
/// reading; SortRole gives the exact value so sorting is numeric, and CSV copies exact values.
class LayerTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    /// Columns, in display order.
    enum Column {
        Name,
        Shape,
        DType,
        Parameters,
        Min,
        Max,
        Std,
        Kurtosis,
        Outliers,
        ChannelAbsmax,
        BitsPerWeight,
        Mse,
        Sqnr,
        Assignment, ///< shown next to Name: what the current recipe's layer rules make of the weight
        ColumnCount
    };
    /// Extra item roles.
    enum Role {
        SortRole = Qt::UserRole + 1, ///< the exact value (double, or text for name/dtype) to sort by
    };

    /// A model over `context` (which must outlive it).
    explicit LayerTableModel(plugins::ViewContext* context, QObject* parent = nullptr);

    /// Number of weights (0 under a valid parent).
    int rowCount(const QModelIndex& parent = {}) const override;
    /// ColumnCount (0 under a valid parent).
    int columnCount(const QModelIndex& parent = {}) const override;
    /// Display text, alignment, tooltips and SortRole values.
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    /// Column titles and their tooltips.
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    /// True for the columns that only have values after a quantization run.
    static bool isQuantColumn(int column) { return column >= BitsPerWeight && column <= Sqnr; }
    /// The Assignment cell of a weight: "keep", a rule's spec ("int8:channel:sym") or "default"
    /// ("—" for weights no quantizer touches).
    QString assignmentText(int row) const;
    /// Row of a weight by name, -1 when absent.
    int rowOf(const QString& name) const;
    /// Name of the weight in `row`.
    QString nameAt(int row) const;
    /// The given rows (in this order) as CSV with a header line; quantization columns only when
    /// a result exists. Values are exact (full precision), fields quoted when needed.
    QString toCsv(const QList<int>& rows) const;

    /// Display text of a value of `column` (the rounding the table uses).
    static QString formatValue(int column, double value);

private:
    void onLayerResult(const QString& name);

    plugins::ViewContext* m_context;
};

/// The layer table's sort/filter proxy: numeric sorting through SortRole, natural order for
/// names (layers.2 before layers.10), and a case-insensitive wildcard filter on the name.
class LayerTableProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    /// A proxy sorting by LayerTableModel::SortRole.
    explicit LayerTableProxy(QObject* parent = nullptr);
    /// Shows the names containing `pattern` (`*` and `?` are wildcards; empty shows all).
    void setNameFilter(const QString& pattern);

protected:
    /// Numbers by value, names naturally, missing values first.
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;
};

/// Natural order: digit runs compare by value ("layers.2" < "layers.10"), letters case-insensitively.
bool naturalLess(const QString& a, const QString& b);

} // namespace qs::views
