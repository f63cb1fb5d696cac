// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

namespace qs::core {

/// Round-to-nearest: every weight to its nearest grid point, scales from min/max. No data needed.
class RtnQuantizer final : public Quantizer {
public:
    std::string_view name() const override { return "rtn"; }
    std::string_view summary() const override {
        return "round-to-nearest with min/max scales (no calibration data)";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return false; }
    void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                  const JobContext& job) const override;
};

} // namespace qs::core
