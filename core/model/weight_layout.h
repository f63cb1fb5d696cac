// SPDX-License-Identifier: MIT
#pragma once
// The one conversion between a weight's stored layout and the [out, in] layout quantizers, analyses
// and cost models work in: GPT-2's Conv1D stores [in, out], every other Linear [out, in].
#include "model/model.h"
#include "tensor/transpose.h"

#include <vector>

namespace qs::core {

/// A weight's values in its stored layout, as [out, in].
inline std::vector<float> outInFromStored(const WeightInfo& w, std::vector<float> stored) {
    return w.transposed ? transposeMatrix(stored, w.matrixCols(), w.matrixRows()) : std::move(stored);
}

/// [out, in] values back in the weight's stored layout.
inline std::vector<float> storedFromOutIn(const WeightInfo& w, std::vector<float> outIn) {
    return w.transposed ? transposeMatrix(outIn, w.matrixRows(), w.matrixCols()) : std::move(outIn);
}

} // namespace qs::core
