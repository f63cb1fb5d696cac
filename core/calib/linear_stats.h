// SPDX-License-Identifier: MIT
#pragma once
#include <Eigen/Core>
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

    /// GPTQ's Hessian H = (2 / samples) * xtx, as float32 [features, features] row-major.
    std::vector<float> hessianF32() const;
    /// The k channels with the largest absMax, largest first (ties: lower index first); k is capped
    /// at the number of channels.
    std::vector<std::int64_t> topOutlierChannels(std::size_t k) const;
};

} // namespace qs::core
