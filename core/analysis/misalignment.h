// SPDX-License-Identifier: MIT
#pragma once
// Local vs global objectives (after Xu et al. 2024, "Understanding the difficulty of low-precision
// post-training quantization of LLMs"): for one weight, many quantizations of the same format — RTN
// with several clipping rules, GPTQ variants, AWQ, and random element-wise mixes of RTN's and GPTQ's
// results (graded local errors) — scored by the layer-local objective tr((Q − W) H (Q − W)ᵀ)/tokens
// (H = XᵀX of the weight's input on the calibration data, GPTQ's objective) and by the global change
// of loss and KL when only that weight is replaced (on the analysis set); their rank agreement per format.
#include "analysis/analysis.h"
#include "quant/quant_spec.h"

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace qs::core {

/// Random rounding of a quantization: each element of `q` (a quantization of `w`, both [rows, cols]
/// row-major) is, with probability `share`, rounded again at random between its value and the next
/// value its scale group uses on the other side of w: it moves there with probability
/// |w − q| / |next − q| (at most 1), so where q is w's nearest level of a uniform grid this is
/// stochastic rounding. Values stay on the levels the group uses. Groups are `groupCols` consecutive
/// columns of a row (0: the whole row). Deterministic for the state of `rng`.
std::vector<float> randomRerounding(std::span<const float> w, std::span<const float> q, std::int64_t rows,
                                    std::int64_t cols, std::int64_t groupCols, double share, std::mt19937_64& rng);

/// The columns of a row that share one scale under `spec` for a matrix of `cols` columns (0: the row,
/// for per-channel; the whole matrix is one group for per-tensor, which the caller flattens).
std::int64_t scaleGroupCols(const QuantSpec& spec, std::int64_t cols);

/// "misalignment". Parameters: layer (a weight name, with or without ".weight"), formats (SPECs in
/// the --act-quant syntax, comma-separated: one correlation each), mixes (random RTN/GPTQ mixes per
/// format), rerounding (random-rounding perturbations of each scalar candidate), qat_steps (QAT of
/// this weight alone, 0: none), seed. Needs calibration data. Arrays: scores [candidates x 3] (local,
/// delta_loss, kld).
class MisalignmentAnalysis : public Analysis {
public:
    std::string_view name() const override { return "misalignment"; }
    std::string_view summary() const override {
        return "one weight's candidate quantizations: local objective against global loss change";
    }
    const ParamSchema& params() const override;
    AnalysisOutput run(const AnalysisInput& input, const nlohmann::json& params, const JobContext& job) const override;
};

} // namespace qs::core
