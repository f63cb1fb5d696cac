// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/linear_stats.h"
#include "base/job.h"
#include "base/param_schema.h"
#include "quant/quant_spec.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

namespace qs::core {

/// One weight matrix handed to a quantizer: row-major [rows = out, cols = in] float32.
struct WeightMatrix {
    const float* data = nullptr;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::string_view name;
    /// Statistics of this Linear's calibration input; set (non-null) for methods whose
    /// needsCalibration() is true.
    const LinearInputStats* input = nullptr;
};

/// A quantization method (RTN, GPTQ, ...). Declared once in the registry with its parameter
/// schema; the CLI, the GUI form and recipes are built from that declaration.
class Quantizer {
public:
    virtual ~Quantizer() = default;
    /// Registry key, e.g. "rtn".
    virtual std::string_view name() const = 0;
    /// One line for --help and tooltips.
    virtual std::string_view summary() const = 0;
    /// Method-specific parameters (beyond quantSpecSchema()).
    virtual const ParamSchema& params() const = 0;
    /// True when the method needs calibration data.
    virtual bool needsCalibration() const = 0;
    /// True for a method that trains the whole model at once (qat): quantizeModel hands it the model
    /// instead of calling quantize() weight by weight.
    virtual bool trainsModel() const { return false; }
    /// Quantize-dequantizes one weight into `out` (rows*cols floats). `params` are validated.
    virtual void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params,
                          float* out, const JobContext& job) const = 0;
    /// Quantize-dequantizes `w` with its first `high` input columns in `highSpec` and the rest in `lowSpec`
    /// (mixed precision, e.g. ResQ's subspace) into `out`. `params` are validated; 0 <= high <= cols.
    /// Default: each block as its own weight through quantize(), a calibrated method getting its block of
    /// the statistics, so error compensation does not cross the split. Methods that can carry it across
    /// (GPTQ) override this; the stored bits are those of the two blocks either way.
    virtual void quantizeColumnBlocks(const WeightMatrix& w, std::int64_t high, const QuantSpec& highSpec,
                                      const QuantSpec& lowSpec, const nlohmann::json& params, float* out,
                                      const JobContext& job) const;
    /// Stored bits per weight of a rows x cols weight quantized with this method (codes, scales, zero
    /// points, codebooks). Methods that store more than the spec (codebooks, two-level scales) override it.
    virtual double bitsPerWeight(const QuantSpec& spec, const nlohmann::json& params, std::int64_t rows,
                                 std::int64_t cols) const {
        (void)params;
        return spec.bitsPerWeight(rows, cols);
    }
};

} // namespace qs::core
