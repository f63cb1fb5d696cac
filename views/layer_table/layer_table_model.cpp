// SPDX-License-Identifier: MIT
#include "layer_table_model.h"

#include <QLocale>
#include <QRegularExpression>
#include <QStringList>
#include <cmath>
#include <optional>

namespace qs::views {
namespace {

using Column = LayerTableModel::Column;

QString shapeText(const core::Shape& shape) {
    if (shape.empty()) return QStringLiteral("scalar");
    QStringList dims;
    for (const auto d : shape)
        dims << QString::number(d);
    return dims.join(QStringLiteral(" × "));
}

QString dtypeText(core::DType t) {
    const std::string_view n = core::dtypeName(t);
    return QString::fromLatin1(n.data(), static_cast<qsizetype>(n.size()));
}

QString exact(double v) {
    return QString::number(v, 'g', QLocale::FloatingPointShortest);
}

QString csvField(const QString& s) {
    if (!s.contains(QLatin1Char(',')) && !s.contains(QLatin1Char('"')) && !s.contains(QLatin1Char('\n')))
        return s;
    QString q = s;
    q.replace(QLatin1String("\""), QLatin1String("\"\""));
    return QLatin1Char('"') + q + QLatin1Char('"');
}

// The numeric value of a cell (what sorting and CSV use), nullopt when the cell has none.
std::optional<double> cellValue(const core::LayerReport& layer, const core::LayerQuantResult* q, int column) {
    const auto& s = layer.stats;
    switch (column) {
    case Column::Shape:
    case Column::Parameters:
        return static_cast<double>(core::numel(layer.info.shape));
    case Column::Min:
        return s.min;
    case Column::Max:
        return s.max;
    case Column::Std:
        return s.std;
    case Column::Kurtosis:
        return s.kurtosis;
    case Column::Outliers:
        return 100.0 * s.outlierShare;
    case Column::ChannelAbsmax:
        return s.channelAbsmaxMax;
    case Column::BitsPerWeight:
        return q ? std::optional<double>(q->bitsPerWeight) : std::nullopt;
    case Column::Mse:
        return q ? std::optional<double>(q->error.mse) : std::nullopt;
    case Column::Sqnr:
        return q ? std::optional<double>(q->error.sqnrDb) : std::nullopt;
    default:
        return std::nullopt;
    }
}

struct ColumnInfo {
    const char* title;
    const char* csv;
    const char* tip;
};

constexpr ColumnInfo kColumns[Column::ColumnCount] = {
    {"Name", "name", "Weight name as stored in the model file"},
    {"Shape", "shape", "Stored shape of the tensor"},
    {"DType", "dtype", "Stored element type"},
    {"Parameters", "parameters", "Number of elements"},
    {"Min", "min", "Smallest value"},
    {"Max", "max", "Largest value"},
    {"Std", "std", "Standard deviation"},
    {"Kurtosis", "kurtosis", "Pearson kurtosis m4/m2² (3 for a Gaussian; large means heavy tails)"},
    {"Outliers >6σ (%)", "outliers_6sigma_pct",
     "Share of elements farther than 6 standard deviations from the mean, in %"},
    {"Channel absmax", "channel_absmax",
     "Smallest … largest absolute maximum over the output channels (rows)"},
    {"Bits/weight", "bits_per_weight",
     "Stored bits per weight of the last quantization run, scales and zero points included"},
    {"MSE", "mse", "Mean squared error of the quantized weight"},
    {"SQNR dB", "sqnr_db", "Signal-to-quantization-noise ratio, 10·log10(signal power / noise power)"},
    {"Assignment", "assignment",
     "What the current recipe does to the weight: the default, or the last layer rule that matches it "
     "(right-click selected rows to set a format or keep them unquantized)"},
};

} // namespace

LayerTableModel::LayerTableModel(plugins::ViewContext* context, QObject* parent)
    : QAbstractTableModel(parent), m_context(context) {
    const auto reset = [this] {
        beginResetModel();
        endResetModel();
    };
    connect(context, &plugins::ViewContext::modelChanged, this, reset);
    connect(context, &plugins::ViewContext::layersChanged, this, reset);
    connect(context, &plugins::ViewContext::quantResultChanged, this, [this] {
        if (rowCount() > 0) emit dataChanged(index(0, BitsPerWeight), index(rowCount() - 1, Sqnr));
    });
    connect(context, &plugins::ViewContext::layerResultAdded, this, &LayerTableModel::onLayerResult);
    connect(context, &plugins::ViewContext::layerRulesChanged, this, [this] {
        if (rowCount() > 0) emit dataChanged(index(0, Assignment), index(rowCount() - 1, Assignment));
    });
}

QString LayerTableModel::assignmentText(int row) const {
    if (row < 0 || row >= rowCount()) return {};
    const auto& info = m_context->layers()[static_cast<std::size_t>(row)].info;
    if (!info.quantizable) return QStringLiteral("—");
    const int rule = core::lastMatchingRule(m_context->layerRules(), info.name);
    if (rule < 0) return tr("default");
    return QString::fromStdString(core::layerRuleSpecText(m_context->layerRules()[static_cast<std::size_t>(rule)]));
}

void LayerTableModel::onLayerResult(const QString& name) {
    const int row = rowOf(name);
    if (row >= 0) emit dataChanged(index(row, BitsPerWeight), index(row, Sqnr));
}

int LayerTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_context->layers().size());
}

int LayerTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

int LayerTableModel::rowOf(const QString& name) const {
    const core::LayerReport* layer = m_context->findLayer(name);
    return layer ? static_cast<int>(layer - m_context->layers().data()) : -1;
}

QString LayerTableModel::nameAt(int row) const {
    if (row < 0 || row >= rowCount()) return {};
    return QString::fromStdString(m_context->layers()[static_cast<std::size_t>(row)].info.name);
}

QString LayerTableModel::formatValue(int column, double v) {
    if (std::isnan(v)) return QStringLiteral("nan");
    switch (column) {
    case Shape:
    case Parameters:
        return QLocale(QLocale::English).toString(static_cast<qlonglong>(std::llround(v)));
    case Min:
    case Max:
    case Std:
    case ChannelAbsmax:
        return QString::number(v, 'g', 4);
    case Kurtosis:
        return QString::number(v, 'f', 2);
    case Outliers:
        return v == 0 ? QStringLiteral("0") : QString::number(v, 'f', 3);
    case BitsPerWeight:
        return QString::number(v, 'f', 3);
    case Mse:
        return QString::number(v, 'e', 2);
    case Sqnr:
        return std::isinf(v) ? QStringLiteral("∞") : QString::number(v, 'f', 1);
    default:
        return QString::number(v, 'g', 6);
    }
}

QVariant LayerTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const auto& layer = m_context->layers()[static_cast<std::size_t>(index.row())];
    const QString name = QString::fromStdString(layer.info.name);
    const int col = index.column();
    const core::LayerQuantResult* q = isQuantColumn(col) ? m_context->layerResult(name) : nullptr;

    switch (role) {
    case Qt::DisplayRole: {
        switch (col) {
        case Name:
            return name;
        case Assignment:
            return assignmentText(index.row());
        case Shape:
            return shapeText(layer.info.shape);
        case DType:
            return dtypeText(layer.info.dtype);
        case ChannelAbsmax:
            return formatValue(col, layer.stats.channelAbsmaxMin) + QStringLiteral(" … ") +
                   formatValue(col, layer.stats.channelAbsmaxMax);
        default:
            break;
        }
        if (isQuantColumn(col) && !q) {
            // A finished run leaves unquantized weights marked; while running they are still blank.
            return m_context->isQuantResultComplete() ? QStringLiteral("—") : QString();
        }
        const auto v = cellValue(layer, q, col);
        return v ? formatValue(col, *v) : QVariant();
    }
    case SortRole: {
        if (col == Name) return name;
        if (col == DType) return dtypeText(layer.info.dtype);
        if (col == Assignment) return assignmentText(index.row());
        const auto v = cellValue(layer, q, col);
        return v ? QVariant(*v) : QVariant();
    }
    case Qt::TextAlignmentRole:
        return col == Name || col == DType || col == Assignment ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                           : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ToolTipRole:
        if (col == Name) {
            QString tip = name + QStringLiteral("\nrole: ") +
                          QString::fromLatin1(core::weightRoleName(layer.info.role));
            if (layer.info.layerIndex >= 0) tip += QStringLiteral(" · block %1").arg(layer.info.layerIndex);
            tip += layer.info.quantizable ? QStringLiteral("\nquantized by weight quantizers")
                                          : QStringLiteral("\nnot quantized (kept at its stored type)");
            return tip;
        }
        if (col == Assignment) {
            const int rule = core::lastMatchingRule(m_context->layerRules(), layer.info.name);
            if (rule < 0) return tr("The recipe's default format and method");
            const auto& r = m_context->layerRules()[static_cast<std::size_t>(rule)];
            return tr("Layer rule %1: %2 = %3").arg(rule + 1).arg(QString::fromStdString(r.value("match", std::string())),
                                                       assignmentText(index.row()));
        }
        if (isQuantColumn(col) && q)
            return QStringLiteral("MSE %1 · SQNR %2 dB · max |error| %3")
                .arg(exact(q->error.mse), exact(q->error.sqnrDb), exact(q->error.maxAbs));
        return {};
    default:
        return {};
    }
}

QVariant LayerTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) return tr(kColumns[section].title);
    if (role == Qt::ToolTipRole) return tr(kColumns[section].tip);
    return {};
}

QString LayerTableModel::toCsv(const QList<int>& rows) const {
    const bool withQuant = m_context->quantResult().has_value();
    QStringList header;
    for (int c = 0; c < ColumnCount; ++c) {
        if (isQuantColumn(c) && !withQuant) continue;
        if (c == ChannelAbsmax)
            header << QStringLiteral("channel_absmax_min") << QStringLiteral("channel_absmax_max");
        else
            header << QString::fromLatin1(kColumns[c].csv);
    }
    QString out = header.join(QLatin1Char(',')) + QLatin1Char('\n');
    for (const int row : rows) {
        if (row < 0 || row >= rowCount()) continue;
        const auto& layer = m_context->layers()[static_cast<std::size_t>(row)];
        const core::LayerQuantResult* q = m_context->layerResult(QString::fromStdString(layer.info.name));
        QStringList fields;
        for (int c = 0; c < ColumnCount; ++c) {
            if (isQuantColumn(c) && !withQuant) continue;
            switch (c) {
            case Name:
                fields << csvField(QString::fromStdString(layer.info.name));
                break;
            case Shape:
                fields << csvField(QString::fromStdString(core::shapeToString(layer.info.shape)));
                break;
            case DType:
                fields << dtypeText(layer.info.dtype);
                break;
            case Assignment:
                fields << csvField(assignmentText(row));
                break;
            case Parameters:
                fields << QString::number(core::numel(layer.info.shape));
                break;
            case ChannelAbsmax:
                fields << exact(layer.stats.channelAbsmaxMin) << exact(layer.stats.channelAbsmaxMax);
                break;
            default: {
                const auto v = cellValue(layer, q, c);
                fields << (v ? exact(*v) : QString());
            }
            }
        }
        out += fields.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    return out;
}

bool naturalLess(const QString& a, const QString& b) {
    qsizetype i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (a[i].isDigit() && b[j].isDigit()) {
            qsizetype ei = i, ej = j;
            while (ei < a.size() && a[ei].isDigit())
                ++ei;
            while (ej < b.size() && b[ej].isDigit())
                ++ej;
            // Compare digit runs by value: strip leading zeros, then length, then digits.
            qsizetype zi = i, zj = j;
            while (zi + 1 < ei && a[zi] == QLatin1Char('0'))
                ++zi;
            while (zj + 1 < ej && b[zj] == QLatin1Char('0'))
                ++zj;
            if (ei - zi != ej - zj) return ei - zi < ej - zj;
            const int c = QStringView(a).mid(zi, ei - zi).compare(QStringView(b).mid(zj, ej - zj));
            if (c != 0) return c < 0;
            i = ei;
            j = ej;
            continue;
        }
        const QChar ca = a[i].toCaseFolded(), cb = b[j].toCaseFolded();
        if (ca != cb) return ca < cb;
        ++i;
        ++j;
    }
    return a.size() - i < b.size() - j;
}

LayerTableProxy::LayerTableProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(LayerTableModel::SortRole);
    setFilterKeyColumn(LayerTableModel::Name);
    setFilterCaseSensitivity(Qt::CaseInsensitive);
}

void LayerTableProxy::setNameFilter(const QString& pattern) {
    const QString p = pattern.trimmed();
    setFilterRegularExpression(
        p.isEmpty() ? QRegularExpression()
                    : QRegularExpression::fromWildcard(p, Qt::CaseInsensitive,
                                                       QRegularExpression::UnanchoredWildcardConversion));
}

bool LayerTableProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant l = left.data(sortRole());
    const QVariant r = right.data(sortRole());
    if (!l.isValid() || !r.isValid()) return !l.isValid() && r.isValid();
    if (l.typeId() == QMetaType::QString || r.typeId() == QMetaType::QString)
        return naturalLess(l.toString(), r.toString());
    return l.toDouble() < r.toDouble();
}

} // namespace qs::views
