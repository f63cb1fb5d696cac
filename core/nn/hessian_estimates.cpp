// SPDX-License-Identifier: MIT
#include "nn/hessian_estimates.h"

#include "base/error.h"

#include <cmath>
#include <random>

namespace qs::core {
namespace {

// ±1 per weight of the blocks (0 elsewhere).
WeightDirection rademacher(const CausalLm& lm, const WeightBlocks& blocks, int onlyBlock, std::mt19937_64& rng) {
    WeightDirection z;
    for (const DifferentiableWeight& w : differentiableWeights(lm)) {
        const auto it = blocks.blockOfWeight.find(w.name);
        if (it == blocks.blockOfWeight.end() || (onlyBlock >= 0 && it->second != onlyBlock)) continue;
        std::vector<float> v(static_cast<std::size_t>(w.size));
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i % 64 == 0) bits = rng();
            v[i] = (bits >> (i % 64)) & 1 ? 1.0f : -1.0f;
        }
        z[w.name] = std::move(v);
    }
    return z;
}

// Per block: Σ over its weights of a[i]·b[i] (b given by name in `names` order).
std::vector<double> blockDots(const WeightBlocks& blocks, const WeightDirection& a, const std::vector<std::string>& names,
                              const std::vector<std::vector<float>>& b) {
    std::vector<double> out(blocks.labels.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto it = a.find(names[i]);
        if (it == a.end()) continue;
        double s = 0;
        for (std::size_t j = 0; j < b[i].size(); ++j)
            s += static_cast<double>(it->second[j]) * b[i][j];
        out[static_cast<std::size_t>(blocks.blockOfWeight.at(names[i]))] += s;
    }
    return out;
}

} // namespace

std::vector<BlockEstimate> hutchinsonTraces(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                            int scoreFrom, const WeightBlocks& blocks, int samples,
                                            std::uint64_t seed, const GradOptions& options, const JobContext& job) {
    if (samples < 1) throw Error("Hessian trace: samples must be at least 1");
    std::mt19937_64 rng(seed);
    const std::size_t n = blocks.labels.size();
    std::vector<double> sum(n), sumSq(n);
    for (int s = 0; s < samples; ++s) {
        job.step(s, samples, "Hessian trace, sample " + std::to_string(s + 1));
        const WeightDirection z = rademacher(lm, blocks, -1, rng);
        const DirectionalCurvature c = curvatureAlong(lm, windows, scoreFrom, z, true, options);
        const std::vector<double> q = blockDots(blocks, z, c.names, c.hessianVector);
        for (std::size_t b = 0; b < n; ++b) {
            sum[b] += q[b];
            sumSq[b] += q[b] * q[b];
        }
    }
    job.step(samples, samples, "Hessian trace");
    std::vector<BlockEstimate> out;
    for (std::size_t b = 0; b < n; ++b) {
        const double mean = sum[b] / samples;
        const double var = samples > 1 ? std::max(0.0, (sumSq[b] - samples * mean * mean) / (samples - 1)) : 0.0;
        out.push_back({blocks.labels[b], mean, std::sqrt(var / samples), samples});
    }
    return out;
}

namespace {

void normalise(WeightDirection& d) {
    double sq = 0;
    for (const auto& [name, x] : d)
        for (float e : x) sq += static_cast<double>(e) * e;
    const double inv = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
    for (auto& [name, x] : d)
        for (float& e : x) e = static_cast<float>(e * inv);
}

// Power iteration from v (normalised here); progress steps first..first+iterations of `total`.
EigenPair powerIteration(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                         WeightDirection v, const std::string& label, int iterations, double tolerance,
                         const GradOptions& options, const JobContext& job, long long first, long long total) {
    normalise(v);
    EigenPair p{{label, 0, 0, 0}, {}};
    BlockEstimate& e = p.estimate;
    for (int it = 0; it < iterations; ++it) {
        job.step(first + it, total, "Hessian top eigenvalue, " + label);
        const DirectionalCurvature c = curvatureAlong(lm, windows, scoreFrom, v, true, options);
        const double lambda = c.curvature; // vᵀ H_bb v with |v| = 1
        WeightDirection next;
        for (std::size_t i = 0; i < c.names.size(); ++i)
            if (v.count(c.names[i])) next[c.names[i]] = c.hessianVector[i];
        normalise(next);
        const double change = std::abs(lambda - e.value);
        e.stdError = change;
        e.value = lambda;
        e.steps = it + 1;
        p.vector = std::move(v);
        v = std::move(next);
        if (it > 0 && change <= tolerance * std::abs(lambda)) break;
    }
    return p;
}

} // namespace

std::vector<BlockEstimate> topEigenvalues(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                          int scoreFrom, const WeightBlocks& blocks, int iterations,
                                          double tolerance, std::uint64_t seed, const GradOptions& options,
                                          const JobContext& job) {
    if (iterations < 1) throw Error("Hessian eigenvalue: iterations must be at least 1");
    std::mt19937_64 rng(seed);
    std::vector<BlockEstimate> out;
    const int n = static_cast<int>(blocks.labels.size());
    for (int b = 0; b < n; ++b)
        out.push_back(powerIteration(lm, windows, scoreFrom, rademacher(lm, blocks, b, rng),
                                     blocks.labels[static_cast<std::size_t>(b)], iterations, tolerance, options, job,
                                     static_cast<long long>(b) * iterations, static_cast<long long>(n) * iterations)
                          .estimate);
    job.step(1, 1, "Hessian top eigenvalue");
    return out;
}

EigenPair topEigenvector(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                         const WeightBlocks& blocks, int block, int iterations, double tolerance, std::uint64_t seed,
                         const GradOptions& options, const JobContext& job) {
    if (iterations < 1) throw Error("Hessian eigenvector: iterations must be at least 1");
    if (block >= static_cast<int>(blocks.labels.size())) throw Error("Hessian eigenvector: no block " + std::to_string(block));
    std::mt19937_64 rng(seed);
    const std::string label = block < 0 ? "all weights" : blocks.labels[static_cast<std::size_t>(block)];
    EigenPair p = powerIteration(lm, windows, scoreFrom, rademacher(lm, blocks, block, rng), label, iterations,
                                 tolerance, options, job, 0, iterations);
    job.step(1, 1, "Hessian top eigenvector");
    return p;
}

WeightBlocks blocksByLayer(const CausalLm& lm, const std::function<int(const std::string&)>& layerOf) {
    WeightBlocks blocks;
    std::map<int, int> blockOfLayer;
    const auto weights = differentiableWeights(lm);
    for (const DifferentiableWeight& w : weights) {
        const int layer = layerOf(w.name);
        if (layer >= 0 && !blockOfLayer.count(layer)) {
            blockOfLayer[layer] = static_cast<int>(blocks.labels.size());
            blocks.labels.push_back("layer " + std::to_string(layer));
        }
    }
    int other = -1;
    for (const DifferentiableWeight& w : weights) {
        const int layer = layerOf(w.name);
        if (layer >= 0) {
            blocks.blockOfWeight[w.name] = blockOfLayer.at(layer);
        } else {
            if (other < 0) {
                other = static_cast<int>(blocks.labels.size());
                blocks.labels.push_back("other");
            }
            blocks.blockOfWeight[w.name] = other;
        }
    }
    return blocks;
}

} // namespace qs::core
