// SPDX-License-Identifier: MIT
#pragma once
#include "formats/format_traits.h"
#include "base/param_schema.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

namespace qs::core {

/// Which elements share one scale. Persisted: append only.
/// Token is Channel for activations [tokens, features]: one scale per row.
enum class Granularity : std::uint8_t { Tensor = 0, Channel = 1, Group = 2, Block = 3, Token = 4 };

/// How a run's range is chosen before the format fits its scale. Persisted: append only.
enum class ScaleRule : std::uint8_t {
    MinMax = 0,     ///< the run's own min/max (absmax)
    Percentile = 1, ///< clip to a percentile of |x| (symmetric) or of x (asymmetric)
    Mse = 2,        ///< search the clipping ratio that minimises the run's squared error
};

/// "tensor", "channel", "group", "block", "token".
std::string_view granularityName(Granularity g);

/// How a weight matrix [out, in] is quantized: format, scale sharing, symmetry.
/// Groups and blocks run along the input (reduction) dimension of one row, starting at column 0;
/// a short last group uses the same formulas over its actual elements. Formats with a fixed block
/// (MX, NV) always use granularity Block with their own block size.
struct QuantSpec {
    FormatId format = FormatId::Int4;
    Granularity granularity = Granularity::Group;
    int groupSize = 128;
    bool symmetric = true;
    ScaleRule scaleRule = ScaleRule::MinMax;
    double percentile = 99.9; ///< for ScaleRule::Percentile
    bool fullRange = false;   ///< INT symmetric: use the full code range -2^(k-1)..2^(k-1)-1

    /// Elements per scale along a row of `cols` (cols for channel/tensor).
    std::int64_t runLength(std::int64_t cols) const;
    /// Exact stored bits of a rows x cols matrix: element codes plus every scale and zero point.
    double totalBits(std::int64_t rows, std::int64_t cols) const;
    /// totalBits / elements.
    double bitsPerWeight(std::int64_t rows, std::int64_t cols) const;
    /// "int4 asym group 32".
    std::string label() const;

    nlohmann::json toJson() const;
    /// Builds and validates a spec from validated parameters (keys of quantSpecSchema()).
    static QuantSpec fromJson(const nlohmann::json& j);
};

/// The spec with fields that do not act on the result set to their defaults (group outside group
/// granularity, percentile outside the percentile rule): the canonical form recipes are keyed by.
QuantSpec normalizedSpec(QuantSpec spec);

/// The parameters every weight quantization takes (format, granularity, group, sym), declared once:
/// CLI flags, the GUI form and recipe keys all come from here. Format choices come from the format table.
const ParamSchema& quantSpecSchema();

} // namespace qs::core
