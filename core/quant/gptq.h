// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

#include <cstdint>
#include <span>
#include <vector>

namespace qs::core {

/// Where a group's scale parameters come from (see fixtures/README.md 2.6).
enum class GptqGroupParams {
    Current,    ///< the group's weights after every error-feedback update from earlier columns (primary)
    BlockStart, ///< the weights as of the start of the lazy block (the IST-DASLab reference code)
};

/// GPTQ options (the "gptq" registry entry's parameters).
struct GptqOptions {
    double damp = 0.01;   ///< fraction of mean(diag H) added to the diagonal
    int block = 128;      ///< columns per lazy batch update (does not change the result for Current)
    bool actOrder = false;     ///< columns in order of descending diag(H)
    bool staticGroups = false; ///< group parameters from the original weights, before any update
    GptqGroupParams groupParams = GptqGroupParams::Current;

    /// From validated "gptq" parameters.
    static GptqOptions fromJson(const nlohmann::json& params);
};

/// GPTQ (Frantar et al. 2022) of one weight W [rows, cols] (row-major) against the undamped Hessian
/// H [cols, cols] (row-major, symmetric, e.g. 2/n X^T X) with any scalar format of `spec`: each group's
/// scale parameters are fitted once (fitRun) and every element of the group quantized with them, so
/// INT sym/asym, FP8/FP4, MX and NVFP4 (tensor scale from the whole original W) all work. Writes the
/// dequantized weights to `out` (rows * cols). Rows run in parallel (OpenMP), one lazy-block
/// synchronisation-free pass per thread. Throws Error (naming `name`) when H is not positive definite
/// after dampening, Cancelled when cancelled. With `groupParams`, also the scale parameters used:
/// [rows * groups], row r's g-th group in quantization order (= column order without act_order);
/// one entry per row (all equal) for per-tensor granularity.
void gptqQuantize(const float* w, std::int64_t rows, std::int64_t cols, const float* hessian, const QuantSpec& spec,
                  const GptqOptions& options, float* out, const JobContext& job = {}, std::string_view name = {},
                  std::vector<ScaleParams>* groupParams = nullptr);

/// Consecutive input columns quantized with one spec: gptqQuantizeBlocks takes a matrix as a list of them.
struct GptqColumnBlock {
    std::int64_t columns = 0;
    QuantSpec spec;
};

/// gptqQuantize with mixed precision along the input: the columns are split into consecutive `blocks`
/// (sizes summing to cols; e.g. ResQ's high-precision subspace first), each with its own spec, groups
/// and per-tensor scale restarting at the block's first column, as if it were its own matrix. One GPTQ
/// pass runs over the whole matrix, so the rounding error of every block is compensated in the blocks
/// after it. With act_order the columns are ordered within each block; the blocks keep their order.
/// `groupParams`: per row, the groups of each block in turn (one entry per per-tensor block).
void gptqQuantizeBlocks(const float* w, std::int64_t rows, std::int64_t cols, const float* hessian,
                        std::span<const GptqColumnBlock> blocks, const GptqOptions& options, float* out,
                        const JobContext& job = {}, std::string_view name = {},
                        std::vector<ScaleParams>* groupParams = nullptr);

/// The "gptq" quantizer: gptqQuantize with the Hessian of WeightMatrix::input.
class GptqQuantizer final : public Quantizer {
public:
    std::string_view name() const override { return "gptq"; }
    std::string_view summary() const override {
        return "GPTQ: column-by-column rounding with Hessian error feedback (needs --calib data)";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return true; }
    void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                  const JobContext& job) const override;
    /// One gptqQuantizeBlocks pass: the high columns' error is compensated in the low ones.
    void quantizeColumnBlocks(const WeightMatrix& w, std::int64_t high, const QuantSpec& highSpec,
                              const QuantSpec& lowSpec, const nlohmann::json& params, float* out,
                              const JobContext& job) const override;
};

} // namespace qs::core
