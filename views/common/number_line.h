// SPDX-License-Identifier: MIT
#pragma once
#include "formats/format_traits.h"
#include "quant/quant_spec.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qs::views {

/// The values a format can represent, scaled to one tensor: what the Formats view draws as a
/// number line over the tensor's histogram. Qt-free, so it is tested without widgets.
struct NumberLine {
    std::vector<double> values;     ///< one per element-grid value, ascending (empty when tooDense)
    core::ScaleParams params;       ///< the per-tensor fit: x' = scale * (q - zero)
    core::RangeStats range;         ///< the tensor's range (finite values)
    bool tooDense = false;          ///< a cast format: too many values in range to draw one tick each
    std::int64_t valuesInRange = 0; ///< representable values within the tensor's [min, max]
};

/// Fits `spec`'s format to the whole tensor x[0, n) the way the format fits one run (its fit
/// function under the spec's scale rule, on the tensor's range) and scales the format's element
/// grid (core::elementGrid) with it: values = scale * grid for scaled formats, scale * (code - zero)
/// for asymmetric integers. Cast formats (bf16, fp16) store no scale: their values within the
/// tensor's range are listed when there are at most `maxTicks` of them, else tooDense is set.
NumberLine numberLine(const core::QuantSpec& spec, const float* x, std::size_t n,
                      std::size_t maxTicks = 1024);

/// The non-zero magnitudes |v| of `values`, ascending, each once (ticks on a log |x| axis).
std::vector<double> magnitudes(const std::vector<double>& values);

/// `spec` with its format replaced by `f`, adjusted to stay valid: symmetric when `f` has no zero
/// point, the format's own block for MX/NV, group instead of block otherwise, no full range off INT.
core::QuantSpec withFormat(const core::QuantSpec& spec, const core::FormatTraits& f);

} // namespace qs::views
