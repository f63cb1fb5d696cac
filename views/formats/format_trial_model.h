// SPDX-License-Identifier: MIT
#pragma once
#include "analysis/format_comparison.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <vector>

namespace qs::views {

/// One row per FormatTrial of core::compareFormats on one layer: format label, bits per element,
/// MSE and SQNR. Display text is rounded for reading; SortRole gives the exact number so sorting
/// is numeric; CSV copies exact values.
class FormatTrialModel : public QAbstractTableModel {
    Q_OBJECT
public:
    /// Columns, in display order.
    enum Column { Format, Bits, Mse, Sqnr, ColumnCount };
    /// Extra item roles.
    enum Role {
        SortRole = Qt::UserRole + 1, ///< the exact value (double; the label for Format)
    };

    /// An empty model.
    explicit FormatTrialModel(QObject* parent = nullptr);

    /// Replaces every row.
    void setTrials(std::vector<core::FormatTrial> trials);
    /// The rows, in core's order (bits per element, then MSE).
    const std::vector<core::FormatTrial>& trials() const { return m_trials; }
    /// Row whose spec equals `spec` in every field, -1 when none.
    int rowOf(const core::QuantSpec& spec) const;

    /// Number of trials (0 under a valid parent).
    int rowCount(const QModelIndex& parent = {}) const override;
    /// ColumnCount (0 under a valid parent).
    int columnCount(const QModelIndex& parent = {}) const override;
    /// Display text, alignment, tooltips and SortRole values.
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    /// Column titles and their tooltips.
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    /// The given source rows (in this order) as CSV with a header line, exact values.
    QString toCsv(const QList<int>& rows) const;
    /// Display text of a value of `column` (the rounding the table uses).
    static QString formatValue(int column, double value);

private:
    std::vector<core::FormatTrial> m_trials;
};

/// Sorts a FormatTrialModel by SortRole: numbers by value (+inf SQNR last), labels as text.
class FormatTrialProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    /// A proxy sorting by FormatTrialModel::SortRole.
    explicit FormatTrialProxy(QObject* parent = nullptr);

protected:
    /// Numbers by value, labels case-insensitively with digit runs by value.
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;
};

} // namespace qs::views
