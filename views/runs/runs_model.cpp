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

// The metrics the table shows: all but the reference's own figures.
const std::vector<const core::RunMetric*>& shownMetrics() {
    static const std::vector<const core::RunMetric*> shown = [] {
        std::vector<const core::RunMetric*> v;
        for (const auto& m : core::runMetricTable())
            if (m.role != core::MetricRole::Reference) v.push_back(&m);
        return v;
    }();
    return shown;
}

QString qstr(std::string_view s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

} // namespace

int RunsTableModel::metricColumn(std::string_view key) {
    const auto& shown = shownMetrics();
    for (std::size_t i = 0; i < shown.size(); ++i)
        if (shown[i]->key == key) return FirstMetric + static_cast<int>(i);
    return -1;
}

const core::RunMetric* RunsTableModel::metricAt(int column) {
    const int i = column - FirstMetric;
    return i >= 0 && i < static_cast<int>(shownMetrics().size()) ? shownMetrics()[static_cast<std::size_t>(i)] : nullptr;
}

int RunsTableModel::speedupAt(int column) const {
    const int i = column - FirstMetric - static_cast<int>(shownMetrics().size());
    return i >= 0 && i < static_cast<int>(m_speedups.size()) ? i : -1;
}

int RunsTableModel::speedupColumn(const std::string& model) const {
    for (std::size_t i = 0; i < m_speedups.size(); ++i)
        if (m_speedups[i].first == model) return FirstMetric + static_cast<int>(shownMetrics().size() + i);
    return -1;
}

int RunsTableModel::seconds() const {
    return FirstMetric + static_cast<int>(shownMetrics().size() + m_speedups.size());
}
int RunsTableModel::finished() const { return seconds() + 1; }
int RunsTableModel::columnTotal() const { return finished() + 1; }

RunsTableModel::RunsTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void RunsTableModel::setRuns(std::vector<core::RunRecord> runs, RunSpeedups speedups) {
    beginResetModel();
    m_runs = std::move(runs);
    m_speedups = std::move(speedups);
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
    return parent.isValid() ? 0 : columnTotal();
}

QVariant RunsTableModel::value(const core::RunRecord& run, int column) const {
    if (const core::RunMetric* m = metricAt(column)) return opt(core::metricValue(*m, run.metrics));
    if (const int i = speedupAt(column); i >= 0) {
        const auto& byRun = m_speedups[static_cast<std::size_t>(i)].second;
        const auto it = byRun.find(run.id);
        return it == byRun.end() ? QVariant() : QVariant(it->second);
    }
    if (column == seconds()) return run.seconds;
    if (column == finished()) return QString::fromStdString(run.finishedAt);
    switch (column) {
    case Id: return QVariant::fromValue<qint64>(run.id);
    case Recipe: return QString::fromStdString(run.recipeLabel);
    case Method: return QString::fromStdString(recipeMethod(run));
    case Format: return QString::fromStdString(recipeFormat(run));
    case Status: return QString::fromStdString(run.status);
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
        const bool text = c == Recipe || c == Method || c == Format || c == Status || c == finished();
        return QVariant::fromValue(text ? (Qt::AlignLeft | Qt::AlignVCenter) : (Qt::AlignRight | Qt::AlignVCenter));
    }
    if (role == Qt::ForegroundRole && run.status != "finished") return QBrush(QColor(180, 30, 30));
    if (role != Qt::DisplayRole) return {};
    const QVariant v = value(run, c);
    if (!v.isValid()) return QStringLiteral("—");
    if (const core::RunMetric* m = metricAt(c)) return QString::fromStdString(core::formatMetric(*m, v.toDouble()));
    if (speedupAt(c) >= 0) return number(v.toDouble(), 3) + QStringLiteral("×");
    if (c == seconds()) return number(v.toDouble(), 1);
    return v;
}

QVariant RunsTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= columnTotal()) return {};
    if (const core::RunMetric* m = metricAt(section)) {
        if (role == Qt::DisplayRole) return qstr(m->shortLabel);
        if (role == Qt::ToolTipRole) return qstr(m->help);
        return {};
    }
    if (const int i = speedupAt(section); i >= 0) {
        const QString model = QString::fromStdString(m_speedups[static_cast<std::size_t>(i)].first);
        if (role == Qt::DisplayRole) return tr("%1 ×").arg(model);
        if (role == Qt::ToolTipRole)
            return tr("Whole-model speedup on the %1 design over its baseline (Hardware cost ▸ Price all runs)").arg(model);
        return {};
    }
    static const char* titles[] = {"id", "recipe", "method", "format", "status"};
    static const char* tips[] = {"run id in the project", "the recipe's label", "weight quantization method",
                                 "weight number format", "finished or failed (hover for the error)"};
    const bool last = section == seconds() || section == finished();
    if (role == Qt::DisplayRole)
        return last ? tr(section == seconds() ? "s" : "finished") : tr(titles[section]);
    if (role == Qt::ToolTipRole)
        return last ? tr(section == seconds() ? "wall time of the run" : "when the run finished (UTC)") : tr(tips[section]);
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
