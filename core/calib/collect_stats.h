// SPDX-License-Identifier: MIT
#pragma once
#include "data/calib_data.h"
#include "statistics/linear_stats.h"
#include "base/job.h"
#include "nn/causal_lm.h"

#include <vector>

namespace qs::core {

/// Statistics of one layer's Linear input sites (in layerSites() order), from running decoder layer
/// `layer` of `lm` on `inputs` (one residual-stream matrix [seq, hidden] per calibration window; not
/// modified). Windows run one after another in order, so the sums do not depend on the thread count.
std::vector<LinearInputStats> collectLayerStats(const CausalLm& lm, int layer, const std::vector<RowMatrixF>& inputs,
                                                bool withGram, const JobContext& job);

/// collectLayerStats on the residual stream itself: each window's matrix is replaced by the layer's
/// output (how a layer-by-layer driver carries calibration windows on through the layer).
std::vector<LinearInputStats> advanceLayerStats(const CausalLm& lm, int layer, std::vector<RowMatrixF>& stream,
                                                bool withGram, const JobContext& job);

/// Statistics of every Linear input site of every layer of `lm` (layer-major, layerSites() order within
/// a layer) over the calibration windows: each window runs through the whole model before the next,
/// so only one window's activations are alive (progress per window, cancellable).
std::vector<LinearInputStats> collectModelStats(const CausalLm& lm, const CalibrationData& data, bool withGram,
                                                const JobContext& job);

} // namespace qs::core
