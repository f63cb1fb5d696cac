// SPDX-License-Identifier: MIT
#include "format_trial_model.h"

#include <QLocale>
#include <QStringList>
#include <cmath>

namespace qs::views {
namespace {

QString qstr(std::string_view s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QString exact(double v) {
    if (std::isinf(v)) return v > 0 ? QStringLiteral("inf") : QStringLiteral("-inf");
    return QString::number(v, 'g', QLocale::FloatingPointShortest);
}

double cellValue(const core::FormatTrial& t, int column) {
    switch (column) {
    case FormatTrialModel::Bits:
        return t.bitsPerElement;
    case FormatTrialModel::Mse:
        return t.error.mse;
    case FormatTrialModel::Sqnr:
        return t.error.sqnrDb;
    default:
        return 0;
    }
}

// Natural order: digit runs compare by value ("group 32" < "group 128"), letters case-insensitively.
bool naturalLess(const QString& a, const QString& b) {
    qsizetype i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (a[i].isDigit() && b[j].isDigit()) {
            qsizetype ie = i, je = j;
            while (ie < a.size() && a[ie].isDigit())
                ++ie;
            while (je < b.size() && b[je].isDigit())
                ++je;
            const qulonglong x = a.mid(i, ie - i).toULongLong(), y = b.mid(j, je - j).toULongLong();
            if (x != y) return x < y;
            i = ie;
            j = je;
            continue;
        }
        const QChar ca = a[i].toLower(), cb = b[j].toLower();
        if (ca != cb) return ca < cb;
        ++i;
        ++j;
    }
    return a.size() - i < b.size() - j;
}

struct ColumnInfo {
    const char* title;
    const char* csv;
    const char* tip;
};

constexpr ColumnInfo kColumns[FormatTrialModel::ColumnCount] = {
    {"Format", "format", "Format, symmetry and granularity (elements sharing one scale)"},
    {"Bits/elem", "bits_per_element",
     "Stored bits per weight on this layer: element code plus every scale and "
     "zero point"},
    {"MSE", "mse", "Mean squared error of the quantized weights against the originals"},
    {"SQNR dB", "sqnr_db",
     "Signal-to-quantization-noise ratio: 10 log10(signal power / error power); higher is "
     "better, about 6 dB per bit for a uniform grid"},
};

} // namespace

FormatTrialModel::FormatTrialModel(QObject* parent) : QAbstractTableModel(parent) {}

void FormatTrialModel::setTrials(std::vector<core::FormatTrial> trials) {
    beginResetModel();
    m_trials = std::move(trials);
    endResetModel();
}

int FormatTrialModel::rowOf(const core::QuantSpec& spec) const {
    const nlohmann::json want = spec.toJson();
    for (std::size_t i = 0; i < m_trials.size(); ++i)
        if (m_trials[i].spec.toJson() == want) return static_cast<int>(i);
    return -1;
}

int FormatTrialModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_trials.size());
}

int FormatTrialModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QString FormatTrialModel::formatValue(int column, double value) {
    switch (column) {
    case Bits:
        return QString::number(value, 'f', 3);
    case Mse:
        return QString::number(value, 'e', 3);
    case Sqnr:
        if (std::isinf(value)) return value > 0 ? QStringLiteral("∞") : QStringLiteral("-∞");
        return QString::number(value, 'f', 2);
    default:
        return exact(value);
    }
}

QVariant FormatTrialModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const core::FormatTrial& t = m_trials[static_cast<std::size_t>(index.row())];
    const int col = index.column();
    switch (role) {
    case Qt::DisplayRole:
        return col == Format ? qstr(t.spec.label()) : formatValue(col, cellValue(t, col));
    case SortRole:
        return col == Format ? QVariant(qstr(t.spec.label())) : QVariant(cellValue(t, col));
    case Qt::TextAlignmentRole:
        return col == Format ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                             : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ToolTipRole:
        if (col == Format) return qstr(core::formatTraits(t.spec.format).summary);
        return exact(cellValue(t, col));
    default:
        return {};
    }
}

QVariant FormatTrialModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) return tr(kColumns[section].title);
    if (role == Qt::ToolTipRole) return tr(kColumns[section].tip);
    return {};
}

QString FormatTrialModel::toCsv(const QList<int>& rows) const {
    QStringList lines;
    QStringList header;
    for (const auto& c : kColumns)
        header << QLatin1String(c.csv);
    lines << header.join(QLatin1Char(','));
    for (const int r : rows) {
        if (r < 0 || r >= rowCount()) continue;
        const core::FormatTrial& t = m_trials[static_cast<std::size_t>(r)];
        lines << QStringList{qstr(t.spec.label()), exact(t.bitsPerElement), exact(t.error.mse),
                             exact(t.error.sqnrDb)}
                     .join(QLatin1Char(','));
    }
    return lines.join(QLatin1Char('\n')) + QLatin1Char('\n');
}

FormatTrialProxy::FormatTrialProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(FormatTrialModel::SortRole);
}

bool FormatTrialProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant l = left.data(sortRole());
    const QVariant r = right.data(sortRole());
    if (l.typeId() == QMetaType::QString || r.typeId() == QMetaType::QString)
        return naturalLess(l.toString(), r.toString());
    return l.toDouble() < r.toDouble();
}

} // namespace qs::views
