// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace qs::core {

/// Streaming per-channel histogram of |x| with log-linear bins (HDR-histogram style): the float
/// exponent and the top kMantissaBits mantissa bits of |x| pick the bin, so each octave
/// [2^e, 2^(e+1)) of [kMinAbs, kMaxAbs) has 2^kMantissaBits bins of relative width <= 2^-kMantissaBits.
/// Zeros have their own count; nonzero |x| below kMinAbs and at or above kMaxAbs go to one underflow
/// and one overflow bin. NaN is not counted. Memory O(features * bins), independent of the token count.
class AbsHistogram {
public:
    static constexpr int kMantissaBits = 5;  ///< 32 bins per octave
    static constexpr int kMinExponent = -24; ///< kMinAbs = 2^-24 (~6e-8)
    static constexpr int kMaxExponent = 20;  ///< kMaxAbs = 2^20 (~1e6)
    /// Bound on |estimate - exact| / exact of percentiles() when the exact value is in [kMinAbs, kMaxAbs).
    static constexpr double kRelativeError = 1.0 / (1 << kMantissaBits);

    explicit AbsHistogram(std::int64_t features = 0);

    /// Adds `rows` tokens, row-major [rows, features].
    void addRows(const float* x, std::int64_t rows);
    /// Values counted in channel c (NaN excluded).
    std::int64_t count(std::int64_t c) const;
    /// The nearest-rank p-th percentiles (each p in [0, 100], ascending) of |x| in channel c into `out`:
    /// for each p the sorted values' element round(p / 100 * (count - 1)), as fake quantization's
    /// percentile rule takes it, estimated by linear
    /// interpolation inside its bin and capped at `absMax` (the channel's exact max |x|; returned exactly
    /// for the top rank). Relative error < kRelativeError inside [kMinAbs, kMaxAbs); a value in the
    /// underflow bin is within kMinAbs of the exact one, in the overflow bin within [kMaxAbs, absMax].
    /// 0 for an empty channel.
    void percentiles(std::int64_t c, std::span<const double> ps, double absMax, double* out) const;

private:
    std::int64_t m_features;
    /// [features, kBins]: zeros, underflow, the log-linear bins, overflow (32-bit: up to 4e9 tokens)
    std::vector<std::uint32_t> m_counts;
};

} // namespace qs::core
