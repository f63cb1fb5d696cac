// SPDX-License-Identifier: MIT
#pragma once
// Directions in weight space for the landscape and curvature analyses: a recipe's quantization error,
// seeded filter-normalised Gaussian directions (Li et al. 2018), the top Hessian eigenvector, and the
// arithmetic on them (norms, one layer's part, linear combinations).
#include "nn/causal_lm_grad.h"
#include "nn/hessian_estimates.h"
#include "quant/method_registries.h"
#include "quant/recipe.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace qs::core {

class Model;
struct CalibrationData;

/// Standard normal numbers from a 64-bit Mersenne Twister by Box–Muller: the same on every platform
/// (std::normal_distribution is not).
class SeededGaussian {
public:
    explicit SeededGaussian(std::uint64_t seed) : m_rng(seed) {}
    double operator()();

private:
    std::mt19937_64 m_rng;
};

/// A filter-normalised Gaussian direction (Li et al.): every matrix row of the differentiable weights
/// drawn N(0, 1) and scaled to the norm of the weight's row; norms and biases (1-D) 0. Rows are the
/// output features whatever the stored layout (GPT-2's Conv1D [in, out] is handled).
WeightDirection randomDirection(const Model& model, const CausalLm& lm, std::uint64_t seed);

/// The quantization error Q(W) − W of `recipe`'s weights (activation and KV settings are not weights:
/// ignored). `calibration` for calibrated methods. `quantized`, when given, receives Q(W) itself (the
/// point at t = 1 exactly). Throws Error naming `owner` for a recipe that quantizes no weight or
/// changes the model's basis (rotations, ResQ: Q(W) − W is then no direction in W's space).
WeightDirection recipeDirection(const Model& model, const Recipe& recipe, const MethodRegistries& registries,
                                const CalibrationData* calibration, const std::string& owner, const JobContext& job,
                                std::map<std::string, std::vector<float>>* quantized = nullptr);

/// Blocks of `lm`'s weights by decoder layer ("layer N"; the rest "other"), from the model's table.
WeightBlocks layerBlocks(const Model& model, const CausalLm& lm);

/// The part of `v` on decoder layer `layer`'s weights (others dropped). Throws Error when none is left.
WeightDirection layerPart(const Model& model, const WeightDirection& v, int layer);

/// Σ v·v and Σ a·b (double accumulation, in name order).
double squaredNorm(const WeightDirection& v);
double dot(const WeightDirection& a, const WeightDirection& b);

/// a·u + b·w over the union of the names (a weight missing from one counts 0 there).
WeightDirection combine(double a, const WeightDirection& u, double b, const WeightDirection& w);

} // namespace qs::core
