// SPDX-License-Identifier: MIT
#include "analysis/weight_directions.h"

#include "model/weight_layout.h"
#include "base/error.h"
#include "base/uniform.h"
#include "data/calib_data.h"
#include "model/model.h"
#include "quant/model_quantizer.h"

#include <cmath>
#include <numbers>

namespace qs::core {

double SeededGaussian::operator()() {
    const double u1 = uniformOpen01(m_rng);
    const double u2 = uniform01(m_rng);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

WeightDirection randomDirection(const Model& model, const CausalLm& lm, std::uint64_t seed) {
    SeededGaussian normal(seed);
    WeightDirection v;
    for (const DifferentiableWeight& d : differentiableWeights(lm)) {
        const WeightInfo* info = model.find(d.name);
        if (!info || info->shape.size() < 2) continue; // norms and biases: 0
        const std::vector<float> w = model.weightAsOutIn(*info);
        const std::int64_t rows = info->matrixRows(), cols = info->matrixCols();
        std::vector<float> outIn(w.size());
        for (std::int64_t r = 0; r < rows; ++r) {
            float* row = outIn.data() + r * cols;
            const float* wRow = w.data() + r * cols;
            double wn = 0, dn = 0;
            for (std::int64_t c = 0; c < cols; ++c) {
                const double x = normal();
                row[c] = static_cast<float>(x);
                wn += static_cast<double>(wRow[c]) * wRow[c];
                dn += x * x;
            }
            const double scale = dn > 0 ? std::sqrt(wn / dn) : 0.0;
            for (std::int64_t c = 0; c < cols; ++c) row[c] = static_cast<float>(row[c] * scale);
        }
        // Back to the stored layout ([in, out] for GPT-2 Conv1D).
        v[d.name] = storedFromOutIn(*info, std::move(outIn));
    }
    return v;
}

WeightDirection recipeDirection(const Model& model, const Recipe& recipe, const MethodRegistries& registries,
                                const CalibrationData* calibration, const std::string& owner, const JobContext& job,
                                std::map<std::string, std::vector<float>>* quantized) {
    if (!recipe.quantizeWeights) throw Error(owner + ": the recipe quantizes no weights: no direction");
    ModelQuantResult q = quantizeModel(model, registries, recipe.job, job, true, {}, calibration);
    if (q.transformed)
        throw Error(owner + ": the recipe changes the model's basis (" + q.transformed->applied.dump() +
                    "): Q(W) − W is not a direction in the model's own weights");
    WeightDirection v;
    for (auto& [name, weights] : q.weights) {
        const std::vector<float> w = model.weight(name).toFloats();
        std::vector<float> d(weights.size());
        for (std::size_t i = 0; i < d.size(); ++i) d[i] = weights[i] - w[i];
        v[name] = std::move(d);
    }
    if (quantized) *quantized = std::move(q.weights);
    return v;
}

WeightBlocks layerBlocks(const Model& model, const CausalLm& lm) {
    return blocksByLayer(lm, [&](const std::string& name) {
        const WeightInfo* w = model.find(name);
        return w ? w->layerIndex : -1;
    });
}

WeightDirection layerPart(const Model& model, const WeightDirection& v, int layer) {
    WeightDirection out;
    for (const auto& [name, x] : v) {
        const WeightInfo* w = model.find(name);
        if (w && w->layerIndex == layer) out[name] = x;
    }
    if (out.empty()) throw Error("the direction has no weight in decoder layer " + std::to_string(layer));
    return out;
}

double squaredNorm(const WeightDirection& v) { return dot(v, v); }

double dot(const WeightDirection& a, const WeightDirection& b) {
    double s = 0;
    for (const auto& [name, x] : a) {
        const auto it = b.find(name);
        if (it == b.end()) continue;
        for (std::size_t i = 0; i < x.size() && i < it->second.size(); ++i)
            s += static_cast<double>(x[i]) * it->second[i];
    }
    return s;
}

WeightDirection combine(double a, const WeightDirection& u, double b, const WeightDirection& w) {
    WeightDirection out;
    for (const auto& [name, x] : u) {
        std::vector<float>& o = out[name];
        o.resize(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) o[i] = static_cast<float>(a * x[i]);
    }
    for (const auto& [name, x] : w) {
        std::vector<float>& o = out[name];
        if (o.empty()) o.assign(x.size(), 0.0f);
        if (o.size() != x.size()) throw Error("directions disagree on the size of " + name);
        for (std::size_t i = 0; i < x.size(); ++i) o[i] = static_cast<float>(o[i] + b * x[i]);
    }
    return out;
}

} // namespace qs::core
