// SPDX-License-Identifier: MIT
#pragma once
#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// Streaming statistics of the input X [tokens, features] of one Linear (or Conv, as im2col rows),
/// accumulated over calibration data without keeping the activations. Everything a calibrated
/// quantizer needs: GPTQ/GPTVQ/AWQ/DGQ take the Gram matrix (the layer objective ||(W - Q) X^T||^2 =
/// tr(E XtX E^T) with E = W - Q), SmoothQuant/AWQ the per-channel magnitudes, the outlier view the moments.
struct LinearInputStats {
    std::string site;          ///< which input, e.g. "model.layers.0.self_attn.q_proj" (shared inputs: one entry each)
    std::int64_t features = 0; ///< in_features
    std::int64_t samples = 0;  ///< tokens (rows of X) accumulated
    /// sum over tokens of x x^T, float64 [features, features]; empty when not collected.
    Eigen::MatrixXd xtx;
    std::vector<double> absMax;   ///< per channel max |x|
    std::vector<double> absMean;  ///< per channel mean |x| (AWQ's activation scale)
    std::vector<double> mean;     ///< per channel mean
    std::vector<double> variance; ///< per channel population variance
    std::vector<double> kurtosis; ///< per channel excess kurtosis (0 for a Gaussian)
    /// Percentile levels (in %) of absPercentiles, in this order.
    static constexpr std::array<double, 5> kAbsPercentileLevels{50.0, 90.0, 99.0, 99.9, 99.99};
    /// Per channel nearest-rank percentiles of |x| at kAbsPercentileLevels, [features, levels] row-major,
    /// from a streaming log-linear histogram (AbsHistogram): relative error < 1/32 for |x| in
    /// [2^-24, 2^20); the top rank is max |x| exactly. Empty when not collected (older caches).
    std::vector<double> absPercentiles;

    /// absPercentiles of `channel` at kAbsPercentileLevels[level]; Error when not collected or out of range.
    double absPercentile(std::int64_t channel, std::size_t level) const;

    /// GPTQ's Hessian H = (2 / samples) * xtx, as float32 [features, features] row-major.
    std::vector<float> hessianF32() const;
    /// The statistics of channels [begin, begin + count) alone (xtx block, per-channel vectors).
    LinearInputStats columns(std::int64_t begin, std::int64_t count) const;
    /// The k channels with the largest absMax, largest first (ties: lower index first); k is capped
    /// at the number of channels.
    std::vector<std::int64_t> topOutlierChannels(std::size_t k) const;
};

} // namespace qs::core
