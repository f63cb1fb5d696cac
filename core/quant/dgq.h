// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

#include <vector>

namespace qs::core {

/// DGQ (Zhang et al.), the weight side of A8W4: INT-k groups (spec format/group/sym) whose group scales are
/// integer multiples m of one coarse scale per output channel, w = s_c * m * (q - z). With `int8Gemm` the
/// multipliers are capped so that m * (q - z) fits INT8 and one INT8 GEMM does the whole row.
struct DgqOptions {
    int multBits = 8;      ///< stored bits of a multiplier (UINT8 codes by default)
    bool int8Gemm = true;  ///< cap m so m * |q - z| <= 127
    int grid = 20;         ///< ratios 1, 1 - 0.5/grid, ..., > 0.5 for both phases
    bool search = true;    ///< false: the naive split (ratio 1, rounded multipliers), for comparison
};

/// The stored parameters (tests check the dequantized weights against them).
struct DgqResult {
    int maxMultiplier = 0;
    std::int64_t groups = 0;           ///< groups per row
    std::vector<float> channelScale;   ///< s_c per row
    std::vector<int> multiplier;       ///< m per [row, group]
    std::vector<float> zero;           ///< z per [row, group] (0 when symmetric)
    double objective = 0;              ///< tr(E XtX E^T)
};

/// Runs DGQ on one weight; `out` gets the dequantized weight. Needs w.input (xtx).
DgqResult dgqQuantize(const WeightMatrix& w, const QuantSpec& spec, const DgqOptions& opt, float* out,
                      const JobContext& job);

/// Stored bits: k per weight + per group (multBits + k for an asymmetric zero) + 16 per row (fp16 s_c).
double dgqTotalBits(const QuantSpec& spec, const DgqOptions& opt, std::int64_t rows, std::int64_t cols);

/// The registry entry "dgq".
class DgqQuantizer final : public Quantizer {
public:
    std::string_view name() const override { return "dgq"; }
    std::string_view summary() const override {
        return "dual-grained (DGQ): INT4 groups with integer multiples of a per-channel scale, for A8W4 INT8 GEMMs";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return true; }
    void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                  const JobContext& job) const override;
    double bitsPerWeight(const QuantSpec& spec, const nlohmann::json& params, std::int64_t rows,
                         std::int64_t cols) const override;
};

} // namespace qs::core
