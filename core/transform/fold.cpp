// SPDX-License-Identifier: MIT
#include "transform/fold.h"

#include "base/error.h"
#include "transform/transform_math.h"

namespace qs::core {
namespace {
std::int64_t rowsOf(const Model& base, const std::string& name, std::int64_t size, std::int64_t cols) {
    if (cols <= 0 || size % cols != 0)
        throw Error("weight '" + name + "' has " + std::to_string(size) + " values, not a multiple of " +
                    std::to_string(cols) + " input features");
    (void)base;
    return size / cols;
}
} // namespace

void foldNormInto(const Model& base, TransformedModel& model, const std::string& norm,
                  const std::vector<std::string>& linears) {
    std::vector<float> gamma = model.weightOutIn(base, norm);
    const auto cols = static_cast<std::int64_t>(gamma.size());
    for (const auto& name : linears) {
        std::vector<float> w = model.weightOutIn(base, name);
        scaleColumns(w, rowsOf(base, name, static_cast<std::int64_t>(w.size()), cols), cols, gamma);
        model.weights[name] = std::move(w);
    }
    model.weights[norm] = std::vector<float>(gamma.size(), 1.0f);
}

void rotateInputs(const Model& base, TransformedModel& model, const std::string& weight, const Rotation& q) {
    std::vector<float> w = model.weightOutIn(base, weight);
    const std::int64_t rows = rowsOf(base, weight, static_cast<std::int64_t>(w.size()), q.size());
    q.apply(w.data(), rows);
    model.weights[weight] = std::move(w);
}

} // namespace qs::core
