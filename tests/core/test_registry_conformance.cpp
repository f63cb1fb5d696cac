// SPDX-License-Identifier: MIT
// The contract every registered quantizer and transform must keep, checked on the fixture Llama
// (tinyllama-bpe512: 4 layers, hidden 192). The cases come from the registries themselves, so an entry
// added to registerBuiltins() is tested the day it is added, with its default parameters.
#include "builtin_registries.h"
#include "data/calib_data.h"
#include "base/job.h"
#include "quant/model_quantizer.h"
#include "fixture_models.h"
#include "fixture_paths.h"
#include "io/npy.h"
#include "base/error.h"
#include "transform/transform_pipeline.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <gtest/gtest.h>
#include <set>
#include <string>
#include <vector>

using namespace qs::core;
using qs::test::fixtureLm;
using qs::test::fixtureModel;

namespace {

const Registries& registries() { return qs::test::builtinRegistries(); }

template <class T> std::vector<std::string> namesOf(const Registry<T>& registry) {
    std::vector<std::string> names;
    for (const T* e : registry.all())
        names.emplace_back(e->name());
    return names;
}

// GoogleTest case names allow only [A-Za-z0-9_]; registry keys may hold '-' or '.'.
std::string caseName(const ::testing::TestParamInfo<std::string>& info) {
    std::string s = info.param;
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

// 4 windows of 128 tokens: enough statistics for every calibrated method, cheap on the tiny model.
const CalibrationData& calibration() {
    static const CalibrationData d =
        loadCalibrationData(qs::test::tinyLlama() / "ref_calib_tokens.npy", fixtureModel().path(), 128, 4);
    return d;
}

// int4, groups of 32, asymmetric: the format every built-in accepts (gptvq ignores the spec: its
// codebooks are the format). A method that refuses it would get its own spec here.
QuantSpec conformanceSpec() {
    return QuantSpec{FormatId::Int4, Granularity::Group, 32, false};
}

std::vector<const WeightInfo*> quantizableWeights() {
    std::vector<const WeightInfo*> v;
    for (const auto& w : fixtureModel().weights())
        if (w.quantizable) v.push_back(&w);
    return v;
}

// The quantizable weights of decoder layer 0: a cancelled job must stop before it gets past them.
std::size_t firstLayerWeights() {
    std::size_t n = 0;
    for (const WeightInfo* w : quantizableWeights())
        n += w->layerIndex == 0 ? 1 : 0;
    return n;
}

// What every finished quantization must satisfy, whatever the method or transform chain.
void expectConformingResult(const ModelQuantResult& q) {
    const auto targets = quantizableWeights();
    ASSERT_FALSE(targets.empty());

    std::set<std::string> reported;
    for (const LayerQuantResult& l : q.layers) {
        EXPECT_TRUE(reported.insert(l.name).second) << "two results for " << l.name;
        EXPECT_FALSE(l.kept) << l.name;
        EXPECT_TRUE(std::isfinite(l.bitsPerWeight)) << l.name;
        EXPECT_GE(l.bitsPerWeight, 1.0) << l.name;
        EXPECT_LE(l.bitsPerWeight, 33.0) << l.name;
        EXPECT_FALSE(std::isnan(l.error.mse)) << l.name;
    }
    for (const WeightInfo* w : targets)
        EXPECT_TRUE(reported.count(w->name)) << "no LayerQuantResult for " << w->name;
    EXPECT_EQ(q.layers.size(), targets.size());

    EXPECT_TRUE(std::isfinite(q.bitsPerWeight));
    EXPECT_GE(q.bitsPerWeight, 1.0);
    EXPECT_LE(q.bitsPerWeight, 33.0);

    // Quantized against the stored weights: no NaN anywhere, and not a silent copy of the model.
    int changed = 0;
    for (const WeightInfo* w : targets) {
        const auto it = q.weights.find(w->name);
        ASSERT_NE(it, q.weights.end()) << "no quantized weight for " << w->name;
        const std::vector<float> original = fixtureModel().weightAsOutIn(*w);
        const std::vector<float>& quantized = it->second;
        ASSERT_EQ(quantized.size(), original.size()) << w->name;
        EXPECT_TRUE(std::none_of(quantized.begin(), quantized.end(), [](float x) { return std::isnan(x); }))
            << "NaN in " << w->name;
        changed += quantized != original ? 1 : 0;
    }
    EXPECT_GT(changed, 0) << "no weight differs from the original";
}

// Runs `job` twice with cancellation: requested before the start (it must throw Cancelled before a
// single weight is done) and requested when the first weight is done (it must throw Cancelled within
// the first decoder layer instead of finishing the model).
void expectCancellable(const QuantJob& job, const CalibrationData* calib) {
    {
        CancelToken cancel;
        cancel.cancel();
        const JobContext ctx{{}, &cancel};
        int done = 0;
        const auto count = [&](const LayerQuantResult&) { ++done; };
        EXPECT_THROW(quantizeModel(fixtureModel(), registries(), job, ctx, false, count, calib), Cancelled);
        EXPECT_EQ(done, 0) << "weights quantized after cancellation was requested";
    }
    {
        CancelToken cancel;
        const JobContext ctx{{}, &cancel};
        std::size_t done = 0;
        const auto cancelAfterFirst = [&](const LayerQuantResult&) {
            ++done;
            cancel.cancel();
        };
        EXPECT_THROW(quantizeModel(fixtureModel(), registries(), job, ctx, false, cancelAfterFirst, calib),
                     Cancelled);
        EXPECT_GE(done, 1u);
        EXPECT_LE(done, firstLayerWeights()) << "kept going past layer 0 after cancellation";
    }
}

std::vector<std::int32_t> tokens7() {
    const Tensor t = readNpy(qs::test::tinyLlama() / "ref_tokens_7.npy");
    std::vector<std::int32_t> ids(static_cast<std::size_t>(t.numel()));
    for (std::int64_t i = 0; i < t.numel(); ++i)
        ids[i] = t.dtype() == DType::I64 ? static_cast<std::int32_t>(t.data<std::int64_t>()[i])
                                         : t.data<std::int32_t>()[i];
    return ids;
}

// ---- quantizers ---------------------------------------------------------------------------------

class QuantizerConformance : public ::testing::TestWithParam<std::string> {
protected:
    const Quantizer& method() const { return registries().quantizers.get(GetParam(), "method"); }
    QuantJob job() const {
        QuantJob j;
        j.method = GetParam();
        j.spec = conformanceSpec();
        // A method that trains the model (qat) runs a few steps here, not its default hundreds.
        if (method().trainsModel()) j.methodParams = {{"steps", 2}, {"train_batch", 2}, {"holdout", 0.25}, {"eval_every", 1}};
        return j;
    }
    const CalibrationData* calib() const { return method().needsCalibration() ? &calibration() : nullptr; }
};

TEST_P(QuantizerConformance, QuantizesEveryWeightOfTheFixture) {
    const ModelQuantResult q = quantizeModel(fixtureModel(), registries(), job(), {}, true, {}, calib());
    expectConformingResult(q);
    if (method().needsCalibration()) {
        EXPECT_EQ(q.calibration.at("windows").get<int>(), 4);
    }
}

TEST_P(QuantizerConformance, StopsWhenCancelled) {
    expectCancellable(job(), calib());
}

INSTANTIATE_TEST_SUITE_P(Registered, QuantizerConformance,
                         ::testing::ValuesIn(namesOf(registries().quantizers)), caseName);

// ---- transforms ---------------------------------------------------------------------------------

class TransformConformance : public ::testing::TestWithParam<std::string> {
protected:
    const ModelTransform& transform() const { return registries().transforms.get(GetParam(), "transform"); }
    // The transform (default parameters) then RTN: the weights RTN sees are the transformed ones.
    QuantJob job() const {
        QuantJob j;
        j.method = "rtn";
        j.spec = conformanceSpec();
        j.transforms = {{GetParam(), nlohmann::json::object()}};
        return j;
    }
    // RTN is data-free, so only the transform decides whether calibration is needed.
    const CalibrationData* calib() const { return transform().needsCalibration() ? &calibration() : nullptr; }
};

TEST_P(TransformConformance, TransformThenRtnQuantizesEveryWeightOfTheFixture) {
    const ModelQuantResult q = quantizeModel(fixtureModel(), registries(), job(), {}, true, {}, calib());
    expectConformingResult(q);
    ASSERT_TRUE(q.transformed);
    EXPECT_EQ(q.transformed->applied.size(), 1u);
}

TEST_P(TransformConformance, LeavesUnquantizedLogitsUnchanged) {
    // A basis change without quantization is exact up to float32 rounding (weights replaced, online
    // site transforms installed as hooks).
    const TransformedModel t =
        applyTransforms(fixtureModel(), registries().transforms, job().transforms, calib(), {});
    CausalLm lm(fixtureLm(), t.weights);
    lm.setHooks(t.hooks());
    const std::vector<std::int32_t> ids = tokens7();
    const double err = (lm.forward(ids) - fixtureLm().forward(ids)).cwiseAbs().maxCoeff();
    EXPECT_LT(err, 1e-3) << GetParam() << ": max |logit difference| against the untransformed model";
}

TEST_P(TransformConformance, StopsWhenCancelled) {
    expectCancellable(job(), calib());
}

INSTANTIATE_TEST_SUITE_P(Registered, TransformConformance,
                         ::testing::ValuesIn(namesOf(registries().transforms)), caseName);

} // namespace
