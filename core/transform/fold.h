// SPDX-License-Identifier: MIT
#pragma once
#include "transform/model_transform.h"
#include "transform/rotation.h"

#include <string>
#include <vector>

namespace qs::core {

/// Folds the norm weight gamma into the Linears it feeds: W <- W diag(gamma), gamma <- 1 (exact for
/// RMSNorm without bias). Updates model.weights.
void foldNormInto(const Model& base, TransformedModel& model, const std::string& norm,
                  const std::vector<std::string>& linears);

/// W <- W Q for a Linear [out, in] (its input basis becomes x Q). Updates model.weights.
void rotateInputs(const Model& base, TransformedModel& model, const std::string& weight, const Rotation& q);

} // namespace qs::core
