// SPDX-License-Identifier: MIT
#pragma once
// Outlier statistics of a model after a chain of transforms ("before and after SmoothQuant / a
// rotation"): per-channel magnitudes of every decoder Linear's transformed weight and per-channel
// statistics of its input in the transformed basis, cached in HDF5 like the calibration statistics.
#include "calib/calib_cache.h"
#include "data/calib_data.h"
#include "statistics/linear_stats.h"
#include "base/job.h"
#include "model/model.h"
#include "base/registry.h"
#include "transform/model_transform.h"

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::core {

/// Per-channel magnitudes of one weight as [out, in].
struct WeightChannels {
    std::string weight; ///< full name, e.g. "model.layers.0.self_attn.q_proj.weight"
    std::string site;   ///< LinearInputStats::site of its input, e.g. "model.layers.0.self_attn.q_proj"
    std::vector<double> outAbsMax; ///< max |w| of each output channel (row)
    std::vector<double> inAbsMax;  ///< max |w| of each input channel (column)
    double kurtosis = 0;           ///< Pearson kurtosis m4/m2^2 of all entries (3 for a Gaussian)
};

/// Per-channel magnitudes and kurtosis of a row-major [rows, cols] weight (names left empty).
WeightChannels weightChannels(const float* w, std::int64_t rows, std::int64_t cols);

/// The statistics of a model after a transform chain (the model itself for an empty chain).
struct TransformedStats {
    /// The applied steps with every parameter (defaults filled), [] for none.
    nlohmann::json applied = nlohmann::json::array();
    /// Every decoder Linear, layer-major in CausalLm::layerSites() order.
    std::vector<WeightChannels> linears;
    /// Every Linear input site in the transformed basis (no Gram matrix); empty without calibration data.
    std::vector<LinearInputStats> inputs;

    /// The weight's entry by full name, nullptr when absent.
    const WeightChannels* linear(const std::string& weight) const;
    /// The input statistics of a site, nullptr when absent.
    const LinearInputStats* input(const std::string& site) const;
};

/// One number per input site for "how heavy-tailed are its channels": the largest per-channel
/// Pearson kurtosis (excess + 3) over tokens, 0 without channels. A channel carrying rare massive
/// values scores high; a rotation that spreads them over all channels brings it towards 3.
double activationKurtosis(const LinearInputStats& stats);

/// The cache key of (model files, calibration tokens or none, each step's name and validated
/// parameters). Throws Error for an unknown transform or bad parameters.
std::string transformedStatsKey(const Model& model, const Registry<ModelTransform>& transforms,
                                const std::vector<TransformStep>& steps, const CalibrationData* data);

/// Writes / reads the statistics (HDF5, written to a temporary name and renamed into place: the weights
/// in `file`, the input statistics beside it in the calibration cache format). Throw Error naming the
/// file when it cannot be written, is unreadable or belongs to another key.
void saveTransformedStats(const std::filesystem::path& file, const std::string& key,
                          const TransformedStats& stats);
TransformedStats loadTransformedStats(const std::filesystem::path& file, const std::string& key);

/// The statistics of `model` after `steps` (applyTransforms, then the transformed forward pass with its
/// site transforms and an observer over `data`, or no input statistics when `data` is null). An empty
/// chain reads the model's own weights and its inputs through cachedModelStats. A valid cache file is
/// read instead of recomputing; a corrupt or unwritable cache is not an error: a line goes to `warnings`.
/// Throws Error for an unknown transform, bad parameters, a calibrated transform without data or an
/// architecture the chain cannot transform.
TransformedStats transformedStats(const Model& model, const Registry<ModelTransform>& transforms,
                                  const std::vector<TransformStep>& steps, const CalibrationData* data,
                                  const CalibCacheOptions& cache, const JobContext& job,
                                  std::vector<std::string>* warnings = nullptr);

} // namespace qs::core
