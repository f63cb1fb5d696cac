// SPDX-License-Identifier: MIT
#pragma once

namespace qs::core {

/// What a weight tensor is for: decides whether weight quantizers touch it.
enum class WeightRole { Linear = 0, Embedding = 1, Norm = 2, Bias = 3, Head = 4, Other = 5 };

/// std::string name of a role ("linear", ...).
const char* weightRoleName(WeightRole r);

} // namespace qs::core
