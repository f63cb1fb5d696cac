// SPDX-License-Identifier: MIT
#pragma once
// Block-diagonal curvature estimates from Hessian-vector products (nn/causal_lm_grad.h): Hutchinson's
// trace and power-iteration top eigenvalues per block of weights (a decoder layer's), seeded.
#include "nn/causal_lm_grad.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace qs::core {

/// Weights grouped into blocks: block b's Hessian is H restricted to its weights (H_bb).
struct WeightBlocks {
    std::vector<std::string> labels;         ///< one per block, e.g. "layer 3"
    std::map<std::string, int> blockOfWeight; ///< weight name -> block index; unlisted weights: none
};

/// One block's estimate.
struct BlockEstimate {
    std::string label;
    double value = 0;    ///< tr(H_bb) or the top eigenvalue of H_bb
    double stdError = 0; ///< Hutchinson: standard error of the mean over samples; power iteration:
                         ///< |last change| of the estimate
    int steps = 0;       ///< samples or iterations used
};

/// Hutchinson: tr(H_bb) ≈ mean over samples of z_bᵀ(H z)_b with one Rademacher z over every blocked
/// weight per sample (cross-block terms have mean 0), so `samples` Hessian-vector products serve
/// every block. z comes from a 64-bit Mersenne Twister seeded with `seed`: same seed, same numbers.
std::vector<BlockEstimate> hutchinsonTraces(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                            int scoreFrom, const WeightBlocks& blocks, int samples,
                                            std::uint64_t seed, const GradOptions& options = {},
                                            const JobContext& job = {});

/// Power iteration on each H_bb from a seeded Rademacher start: at most `iterations` products per
/// block, stopping when the Rayleigh quotient changes by less than `tolerance` relative. The value
/// is the eigenvalue of largest magnitude (it may be negative away from a minimum).
std::vector<BlockEstimate> topEigenvalues(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                          int scoreFrom, const WeightBlocks& blocks, int iterations,
                                          double tolerance, std::uint64_t seed, const GradOptions& options = {},
                                          const JobContext& job = {});

/// The top eigenpair of H_bb (block `block`; -1: every blocked weight, the whole H) by the same power
/// iteration as topEigenvalues: `value` the eigenvalue of largest magnitude, `vector` its unit
/// eigenvector (weights outside the block absent).
struct EigenPair {
    BlockEstimate estimate;
    WeightDirection vector;
};
EigenPair topEigenvector(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                         const WeightBlocks& blocks, int block, int iterations, double tolerance, std::uint64_t seed,
                         const GradOptions& options = {}, const JobContext& job = {});

/// Blocks by decoder layer ("layer N") from each differentiable weight's name, given a function that
/// returns a weight's decoder layer index or -1; weights outside layers form the block "other".
WeightBlocks blocksByLayer(const CausalLm& lm, const std::function<int(const std::string&)>& layerOf);

} // namespace qs::core
