// SPDX-License-Identifier: MIT
#include "store/run_metrics.h"

#include "base/error.h"

#include <array>
#include <cmath>
#include <cstdio>

namespace qs::core {
namespace {

std::optional<double> deltaPerplexity(const RunMetrics& m) {
    if (!m.perplexity || !m.referencePerplexity) return std::nullopt;
    return *m.perplexity - *m.referencePerplexity;
}

using R = RunMetric;
using M = RunMetrics;
using D = MetricDisplay;

// Display order (the Runs columns follow it). Stored keys are column names: never rename one.
const std::array<RunMetric, 9> kMetrics{{
    {"bits_per_weight", "bits / weight", "bits/w",
     "stored bits per weight of the quantization scope, scales, zero points and kept layers included",
     MetricRole::Size, false, D::Fixed3, &M::bitsPerWeight, nullptr, "", std::nullopt, false},
    {"perplexity", "perplexity", "ppl", "perplexity on the evaluation data (lower is better)", MetricRole::Quality,
     false, D::Fixed3, &M::perplexity, nullptr, "", std::nullopt, false},
    {"delta_perplexity", "Δ perplexity vs fp32", "Δppl", "perplexity minus the fp32 reference's", MetricRole::Quality,
     false, D::Signed3, nullptr, deltaPerplexity, "(r.perplexity - r.reference_perplexity)", 0.0, true},
    {"kld_mean", "KL divergence to fp32 (mean, nats)", "KLD",
     "mean KL divergence of the next-token distribution to fp32's", MetricRole::Quality, false, D::Significant4,
     &M::kldMean, nullptr, "", 0.0, true},
    {"kld_p99", "KL divergence to fp32 (p99, nats)", "KLD p99",
     "99th percentile over tokens of the KL divergence to fp32: the bad tail", MetricRole::Quality, false,
     D::Significant4, &M::kldP99, nullptr, "", 0.0, true},
    {"top1_agreement", "top-1 agreement with fp32", "top-1",
     "share of tokens (images) whose top-1 prediction matches fp32's", MetricRole::Quality, true, D::Percent,
     &M::top1Agreement, nullptr, "", 1.0, false},
    {"accuracy", "accuracy", "accuracy", "classifier accuracy on the labelled images", MetricRole::Quality, true,
     D::Percent, &M::accuracy, nullptr, "", std::nullopt, false},
    {"model_bytes", "model size (MB)", "MB", "whole model size, every parameter at its stored or quantized width",
     MetricRole::Size, false, D::Megabytes, &M::modelBytes, nullptr, "", std::nullopt, false},
    {"reference_perplexity", "fp32 perplexity", "fp32 ppl", "the fp32 reference's perplexity on the same data",
     MetricRole::Reference, false, D::Fixed3, &M::referencePerplexity, nullptr, "", std::nullopt, false},
}};

} // namespace

std::span<const RunMetric> runMetricTable() {
    return kMetrics;
}

const RunMetric* findRunMetric(std::string_view key) {
    for (const auto& m : kMetrics)
        if (m.key == key) return &m;
    return nullptr;
}

const RunMetric& runMetric(std::string_view key) {
    if (const RunMetric* m = findRunMetric(key)) return *m;
    std::string keys;
    for (const auto& m : kMetrics) keys += (keys.empty() ? "" : ", ") + std::string(m.key);
    throw Error("unknown run metric '" + std::string(key) + "' (known: " + keys + ")");
}

std::optional<double> metricValue(const RunMetric& metric, const RunMetrics& m) {
    return metric.field ? m.*metric.field : metric.derive(m);
}

std::string formatMetric(const RunMetric& metric, const std::optional<double>& value) {
    if (!value) return "—";
    const double v = *value;
    if (std::isinf(v)) return v > 0 ? "∞" : "−∞";
    char buf[64];
    switch (metric.display) {
    case D::Fixed3: std::snprintf(buf, sizeof buf, "%.3f", v); break;
    case D::Signed3: std::snprintf(buf, sizeof buf, "%+.3f", v); break;
    case D::Significant4: std::snprintf(buf, sizeof buf, "%.4g", v); break;
    case D::Percent: std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v); break;
    case D::Megabytes: std::snprintf(buf, sizeof buf, "%.2f", v / 1e6); break;
    }
    return buf;
}

} // namespace qs::core
