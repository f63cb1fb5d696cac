// SPDX-License-Identifier: MIT
#include "runs_model.h"

#include "pareto_data.h"

#include <QBrush>
#include <QColor>
#include <QLocale>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace qs::views {

namespace {

QVariant opt(const std::optional<double>& v) {
    return v ? QVariant(*v) : QVariant();
}

// An exact layer (no error) has infinite SQNR; it sorts above every finite one.
double sqnrOf(const core::LayerResultRecord& l) {
    return l.sqnrDb ? *l.sqnrDb : std::numeric_limits<double>::infinity();
}

QString number(double v, int decimals) {
    if (std::isinf(v)) return v > 0 ? QStringLiteral("∞") : QStringLiteral("−∞");
    return QLocale(QLocale::English).toString(v, 'f', decimals);
}

} // namespace

RunsTableModel::RunsTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void RunsTableModel::setRuns(std::vector<core::RunRecord> runs) {
    beginResetModel();
    m_runs = std::move(runs);
    endResetModel();
}

int RunsTableModel::rowOf(qint64 id) const {
    for (std::size_t i = 0; i < m_runs.size(); ++i)
        if (m_runs[i].id == id) return static_cast<int>(i);
    return -1;
}

int RunsTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_runs.size());
}

int RunsTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunsTableModel::value(const core::RunRecord& run, int column) const {
    const auto& m = run.metrics;
    switch (column) {
    case Id: return QVariant::fromValue<qint64>(run.id);
    case Recipe: return QString::fromStdString(run.recipeLabel);
    case Method: return QString::fromStdString(recipeMethod(run));
    case Format: return QString::fromStdString(recipeFormat(run));
    case Status: return QString::fromStdString(run.status);
    case BitsPerWeight: return opt(m.bitsPerWeight);
    case Perplexity: return opt(m.perplexity);
    case DeltaPerplexity: return opt(yValue(run, ParetoY::DeltaPerplexity));
    case Kld: return opt(m.kldMean);
    case Top1: return opt(m.top1Agreement);
    case Accuracy: return opt(m.accuracy);
    case ModelMB: return m.modelBytes ? QVariant(*m.modelBytes / 1e6) : QVariant();
    case Seconds: return run.seconds;
    case Finished: return QString::fromStdString(run.finishedAt);
    }
    return {};
}

QVariant RunsTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const auto& run = m_runs[static_cast<std::size_t>(index.row())];
    const int c = index.column();
    if (role == RunIdRole) return QVariant::fromValue<qint64>(run.id);
    if (role == SortRole) return value(run, c);
    if (role == Qt::ToolTipRole) {
        if (c == Status && !run.error.empty()) return QString::fromStdString(run.error);
        return QString::fromStdString(run.recipe);
    }
    if (role == Qt::TextAlignmentRole) {
        const bool text = c == Recipe || c == Method || c == Format || c == Status || c == Finished;
        return QVariant::fromValue(text ? (Qt::AlignLeft | Qt::AlignVCenter) : (Qt::AlignRight | Qt::AlignVCenter));
    }
    if (role == Qt::ForegroundRole && run.status != "finished") return QBrush(QColor(180, 30, 30));
    if (role != Qt::DisplayRole) return {};
    const QVariant v = value(run, c);
    if (!v.isValid()) return QStringLiteral("—");
    switch (c) {
    case BitsPerWeight: return number(v.toDouble(), 3);
    case Perplexity: return number(v.toDouble(), 3);
    case DeltaPerplexity: return (v.toDouble() >= 0 ? QStringLiteral("+") : QString()) + number(v.toDouble(), 3);
    case Kld: return QString::number(v.toDouble(), 'g', 4);
    case Top1:
    case Accuracy: return number(100.0 * v.toDouble(), 1) + QLatin1Char('%');
    case ModelMB: return number(v.toDouble(), 2);
    case Seconds: return number(v.toDouble(), 1);
    default: return v;
    }
}

QVariant RunsTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    static const char* titles[] = {"id",  "recipe", "method",   "format",  "status", "bits/w", "ppl",
                                   "Δppl", "KLD",    "top-1",    "accuracy", "MB",   "s",      "finished"};
    static const char* tips[] = {"run id in the project",
                                 "the recipe's label",
                                 "weight quantization method",
                                 "weight number format",
                                 "finished or failed (hover for the error)",
                                 "bits per quantized weight, scales included",
                                 "perplexity on the evaluation data",
                                 "perplexity minus the fp32 reference's",
                                 "mean KL divergence of the next-token distribution to fp32",
                                 "share of tokens whose top-1 prediction matches fp32",
                                 "classifier accuracy",
                                 "whole model size in MB",
                                 "wall time of the run",
                                 "when the run finished (UTC)"};
    if (section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) return tr(titles[section]);
    if (role == Qt::ToolTipRole) return tr(tips[section]);
    return {};
}

RunsProxy::RunsProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(RunsTableModel::SortRole);
}

void RunsProxy::setTextFilter(const QString& text) {
    m_words = text.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    invalidateFilter();
}

bool RunsProxy::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (m_words.isEmpty()) return true;
    const auto* m = sourceModel();
    const QString label = m->index(sourceRow, RunsTableModel::Recipe, sourceParent).data().toString();
    const QString status = m->index(sourceRow, RunsTableModel::Status, sourceParent).data().toString();
    for (const QString& w : m_words)
        if (!label.contains(w, Qt::CaseInsensitive) && !status.contains(w, Qt::CaseInsensitive)) return false;
    return true;
}

bool RunsProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant a = left.data(RunsTableModel::SortRole), b = right.data(RunsTableModel::SortRole);
    if (!a.isValid() || !b.isValid()) return !a.isValid() && b.isValid();
    if (a.typeId() == QMetaType::QString) return a.toString().compare(b.toString(), Qt::CaseInsensitive) < 0;
    return a.toDouble() < b.toDouble();
}

LayerCompareModel::LayerCompareModel(QObject* parent) : QAbstractTableModel(parent) {}

void LayerCompareModel::setRuns(const QString& nameA, std::vector<core::LayerResultRecord> a, const QString& nameB,
                                std::vector<core::LayerResultRecord> b) {
    beginResetModel();
    m_nameA = nameA;
    m_nameB = nameB;
    m_a = std::move(a);
    m_b = std::move(b);
    m_rows.clear();
    std::unordered_map<std::string, std::size_t> rowOf;
    for (const auto& l : m_a) {
        rowOf[l.name] = m_rows.size();
        m_rows.push_back({QString::fromStdString(l.name), &l, nullptr});
    }
    for (const auto& l : m_b) {
        const auto it = rowOf.find(l.name);
        if (it != rowOf.end()) {
            m_rows[it->second].b = &l;
        } else {
            m_rows.push_back({QString::fromStdString(l.name), nullptr, &l});
        }
    }
    endResetModel();
}

void LayerCompareModel::clear() {
    setRuns({}, {}, {}, {});
}

int LayerCompareModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int LayerCompareModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LayerCompareModel::value(const Row& r, int column) const {
    switch (column) {
    case Name: return r.name;
    case MseA: return r.a ? QVariant(r.a->mse) : QVariant();
    case MseB: return r.b ? QVariant(r.b->mse) : QVariant();
    case SqnrA: return r.a ? QVariant(sqnrOf(*r.a)) : QVariant();
    case SqnrB: return r.b ? QVariant(sqnrOf(*r.b)) : QVariant();
    case SqnrDelta: {
        if (!r.a || !r.b) return {};
        const double d = sqnrOf(*r.b) - sqnrOf(*r.a);
        return std::isnan(d) ? QVariant(0.0) : QVariant(d); // ∞ − ∞: both exact, no difference
    }
    case BitsA: return r.a ? QVariant(r.a->bitsPerWeight) : QVariant();
    case BitsB: return r.b ? QVariant(r.b->bitsPerWeight) : QVariant();
    case BitsDelta: return r.a && r.b ? QVariant(r.b->bitsPerWeight - r.a->bitsPerWeight) : QVariant();
    }
    return {};
}

QVariant LayerCompareModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const Row& r = m_rows[static_cast<std::size_t>(index.row())];
    const int c = index.column();
    if (role == SortRole) return value(r, c);
    if (role == Qt::TextAlignmentRole)
        return QVariant::fromValue(c == Name ? (Qt::AlignLeft | Qt::AlignVCenter) : (Qt::AlignRight | Qt::AlignVCenter));
    if (role == Qt::ForegroundRole && c == SqnrDelta) {
        const QVariant v = value(r, c);
        if (v.isValid() && v.toDouble() > 0.05) return QBrush(QColor(0, 120, 60));
        if (v.isValid() && v.toDouble() < -0.05) return QBrush(QColor(180, 30, 30));
    }
    if (role != Qt::DisplayRole) return {};
    const QVariant v = value(r, c);
    if (!v.isValid()) return QStringLiteral("—");
    switch (c) {
    case Name: return v;
    case MseA:
    case MseB: return QString::number(v.toDouble(), 'e', 3);
    case SqnrA:
    case SqnrB: return number(v.toDouble(), 2);
    case SqnrDelta: return (v.toDouble() >= 0 ? QStringLiteral("+") : QString()) + number(v.toDouble(), 2);
    case BitsDelta: return (v.toDouble() >= 0 ? QStringLiteral("+") : QString()) + number(v.toDouble(), 3);
    default: return number(v.toDouble(), 3);
    }
}

QVariant LayerCompareModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    const QString a = m_nameA.isEmpty() ? QStringLiteral("A") : m_nameA;
    const QString b = m_nameB.isEmpty() ? QStringLiteral("B") : m_nameB;
    switch (section) {
    case Name: return tr("layer");
    case MseA: return tr("MSE %1").arg(a);
    case MseB: return tr("MSE %1").arg(b);
    case SqnrA: return tr("SQNR dB %1").arg(a);
    case SqnrB: return tr("SQNR dB %1").arg(b);
    case SqnrDelta: return tr("ΔSQNR (B−A)");
    case BitsA: return tr("bits/w %1").arg(a);
    case BitsB: return tr("bits/w %1").arg(b);
    case BitsDelta: return tr("Δbits (B−A)");
    }
    return {};
}

} // namespace qs::views
