// SPDX-License-Identifier: MIT
#include "statistics/error_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace qs::core {

ErrorMetrics computeError(const float* original, const float* quantized, std::int64_t n) {
    // Fixed chunks, each summed in order, then the chunks' sums in order: the same bits at any thread
    // count (an OpenMP reduction adds per-thread partial sums, whose split depends on the count), so a
    // sweep sharded over Slurm tasks with other thread counts stores the very figures of one process.
    constexpr std::int64_t kChunk = 4096;
    const std::int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> noiseOf(static_cast<std::size_t>(chunks)), signalOf(noiseOf.size()), worstOf(noiseOf.size());
#pragma omp parallel for schedule(static)
    for (std::int64_t c = 0; c < chunks; ++c) {
        double noise = 0, signal = 0, worst = 0;
        for (std::int64_t i = c * kChunk, end = std::min(n, i + kChunk); i < end; ++i) {
            const double d = static_cast<double>(original[i]) - quantized[i];
            noise += d * d;
            signal += static_cast<double>(original[i]) * original[i];
            worst = std::max(worst, std::fabs(d));
        }
        noiseOf[static_cast<std::size_t>(c)] = noise;
        signalOf[static_cast<std::size_t>(c)] = signal;
        worstOf[static_cast<std::size_t>(c)] = worst;
    }
    double noise = 0, signal = 0, worst = 0;
    for (std::size_t c = 0; c < noiseOf.size(); ++c) {
        noise += noiseOf[c];
        signal += signalOf[c];
        worst = std::max(worst, worstOf[c]);
    }
    ErrorMetrics e;
    e.mse = n ? noise / static_cast<double>(n) : 0;
    e.maxAbs = worst;
    e.sqnrDb = noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
    return e;
}

} // namespace qs::core
