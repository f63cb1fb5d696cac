// SPDX-License-Identifier: MIT
#include "model/weight_role.h"

namespace qs::core {

const char* weightRoleName(WeightRole r) {
    switch (r) {
    case WeightRole::Linear:
        return "linear";
    case WeightRole::Embedding:
        return "embedding";
    case WeightRole::Norm:
        return "norm";
    case WeightRole::Bias:
        return "bias";
    case WeightRole::Head:
        return "head";
    case WeightRole::Other:
        return "other";
    }
    return "other";
}

} // namespace qs::core
