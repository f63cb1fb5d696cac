// SPDX-License-Identifier: MIT
// The table of run metrics: every figure a stored run carries, declared once. The project schema,
// its inserts and reads, sorting, JSON, the Runs columns, the Pareto axes and the report all walk
// this table, so a metric an analysis or a cost model adds is one field and one row.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qs::core {

/// The figures of one run (nullopt: the run does not have it, e.g. accuracy of a language model).
struct RunMetrics {
    std::optional<double> perplexity, referencePerplexity, kldMean, kldP99, top1Agreement, accuracy,
        bitsPerWeight, modelBytes;
};

/// What a metric is for: how good a run is, how big it is, or a figure of its fp32 reference.
enum class MetricRole { Quality, Size, Reference };
/// How a metric reads in tables and reports.
enum class MetricDisplay {
    Fixed3,        ///< 8.471
    Signed3,       ///< +0.012
    Significant4,  ///< 0.002731
    Percent,       ///< a share 0..1 shown as 97.3%
    Megabytes,     ///< bytes shown as MB with 2 decimals
};

/// One row of the table.
struct RunMetric {
    std::string_view key;        ///< JSON key and sort key; the runs column of a stored metric
    std::string_view label;      ///< axis title and report label, e.g. "Δ perplexity vs fp32"
    std::string_view shortLabel; ///< table header, e.g. "Δppl"
    std::string_view help;       ///< how to read it (tooltips, the report's legend)
    MetricRole role;
    bool higherIsBetter;
    MetricDisplay display;
    /// A stored metric: its field of RunMetrics (nullptr for a derived one).
    std::optional<double> RunMetrics::*field;
    /// A derived metric: its value and its SQL expression over the runs row `r` (for sorting).
    std::optional<double> (*derive)(const RunMetrics&);
    std::string_view sql;
    /// Where the fp32 reference sits on this metric's axis: a fixed value (0 for deltas and
    /// divergences, 1 for agreement), or nullopt for the reference run's own value.
    std::optional<double> referenceValue;
    /// True when values can be zero or negative (no log axis).
    bool mayBeNonPositive;
};

/// Every run metric, in display order.
std::span<const RunMetric> runMetricTable();
/// The row of `key`, nullptr when there is none.
const RunMetric* findRunMetric(std::string_view key);
/// The row of `key`; throws Error listing the keys when there is none.
const RunMetric& runMetric(std::string_view key);
/// The metric's value of `m` (stored or derived).
std::optional<double> metricValue(const RunMetric& metric, const RunMetrics& m);
/// `value` as the metric displays it ("—" for none).
std::string formatMetric(const RunMetric& metric, const std::optional<double>& value);

} // namespace qs::core
