// SPDX-License-Identifier: MIT
// Linear weights stored in BF16 or binary16 stay in 16 bits inside CausalLm (converted as each
// product packs them). Everything must equal the same model with those weights handed in as float32
// (the `replaced` path, which holds float32 copies): logits, batches, derived models, layer-by-layer
// runs and gradients, bit for bit, for half the Linears' memory.
#include "fixture_paths.h"
#include "naive_lm.h"
#include "same_model_numbers.h"
#include "nn/causal_lm.h"
#include "nn/causal_lm_grad.h"
#include "model/model.h"
#include "base/error.h"
#include "tensor/compact_matrix.h"

#include <gtest/gtest.h>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

// Every Linear weight of the model as float32 values (what the 16-bit ones convert to, exactly).
std::map<std::string, std::vector<float>> linearsAsFloat(const Model& model, const CausalLm& lm) {
    std::map<std::string, std::vector<float>> out;
    for (int l = 0; l < lm.numLayers(); ++l)
        for (const LinearInputSite& site : lm.layerSites(l))
            for (const std::string& name : site.weights) out[name] = model.weight(name).toFloats();
    return out;
}

std::vector<std::vector<std::int32_t>> windows() {
    std::vector<std::vector<std::int32_t>> w(2, std::vector<std::int32_t>(12));
    for (std::size_t k = 0; k < w.size(); ++k)
        for (std::size_t i = 0; i < 12; ++i) w[k][i] = static_cast<std::int32_t>((i * 5 + k * 11 + 1) % 40);
    return w;
}

struct Case {
    std::string name;
    qs::test::TinySpec spec;
};

std::vector<Case> cases() {
    std::vector<Case> c(3);
    c[0] = {"llama_bf16", {}};
    c[0].spec.matrixDtype = DType::BF16;
    c[1] = {"llama_f16_qkv_bias", {}};
    c[1].spec.matrixDtype = DType::F16;
    c[1].spec.qkvBias = true;
    c[2] = {"gpt2_bf16", {}}; // Conv1D weights stored [in, out]
    c[2].spec.modelType = "gpt2";
    c[2].spec.matrixDtype = DType::BF16;
    return c;
}

} // namespace

TEST(HalfWeights, SixteenBitLinearsGiveTheFloat32CopysNumbers) {
    const auto w = windows();
    const std::vector<std::span<const std::int32_t>> spans(w.begin(), w.end());
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        const fs::path dir = qs::test::outputDir("half_weights_" + c.name);
        qs::test::writeTinyModel(dir, c.spec);
        const auto model = openModel(dir);
        const CausalLm half(*model);
        const auto linears = linearsAsFloat(*model, half);
        std::size_t linearValues = 0;
        for (const auto& [name, v] : linears) linearValues += v.size();
        const bool compactBefore = allowCompactWeights(false); // `full` holds its Linears in float32
        const CausalLm full(*model, linears);

        // Half the Linears' bytes.
        EXPECT_EQ(half.weightBytes() + linearValues * 2, full.weightBytes());

        // Logits, one window and a batch.
        EXPECT_TRUE(half.forward(w[0]) == full.forward(w[0]));
        const auto a = half.forwardBatch(spans), b = full.forwardBatch(spans);
        for (std::size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(a[k] == b[k]) << "window " << k;

        // A derived model replacing one 16-bit Linear (and so sharing the others).
        const std::string one = linears.begin()->first;
        std::vector<float> changed = linears.begin()->second;
        for (float& x : changed) x *= 0.5f;
        const CausalLm fullVariant(full, {{one, changed}});
        allowCompactWeights(compactBefore);
        const CausalLm halfVariant(half, {{one, changed}});
        EXPECT_TRUE(halfVariant.forward(w[1]) == fullVariant.forward(w[1]));
        EXPECT_FALSE(halfVariant.forward(w[1]) == half.forward(w[1]));
        EXPECT_THROW(CausalLm(half, {{one, std::vector<float>(3)}}), Error);

        // Layer by layer: the 16-bit Linears are loaded, used and released the same way.
        EXPECT_TRUE(qs::test::layerByLayerLogits(*model, w[0]) == full.forward(w[0]));

        // Gradients: the backward pass reads float32 copies of the 16-bit Linears.
        qs::test::expectSameGradients(half, full, spans);
    }
}
