// SPDX-License-Identifier: MIT
// Layer-major evaluation over layer-by-layer weights (core/eval/layer_major, CausalLm::layerByLayer)
// against the fixture's PyTorch perplexities and against the window-major path
// (evaluatePerplexity / compareWithReference): the same numbers from a different execution order.
#include "builtin_registries.h"
#include "data/calib_data.h"
#include "quant/model_quantizer.h"
#include "eval/layer_major.h"
#include "transform/transform_pipeline.h"
#include "eval/perplexity.h"
#include "fixture_models.h"
#include "fixture_paths.h"
#include "io/npy.h"
#include "naive_lm.h"
#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace qs::core;
using qs::test::fixtureLm;
using qs::test::fixtureModel;

namespace {

const std::vector<std::int32_t>& testTokens() { return qs::test::fixtureTestTokens(); }
const nlohmann::json& reference() { return qs::test::fixtureReference(); }

const Registries& registries() { return qs::test::builtinRegistries(); }

QuantJob rtn(FormatId format, Granularity granularity, int group, bool symmetric) {
    QuantJob job;
    job.method = "rtn";
    job.spec = {format, granularity, group, symmetric};
    return job;
}

LayerMajorCandidate quantized(const QuantJob& job, const ForwardHooks& hooks = {}) {
    LayerMajorCandidate c;
    c.weights = job;
    c.hooks = hooks;
    c.registries = &registries();
    return c;
}

double relErr(double got, double want) {
    return std::fabs(got - want) / std::fabs(want);
}

// Bytes of the model's weights that `pick` selects, from the weight table (not from CausalLm): in
// float32 (an upper bound for quantized copies), or `asLoaded`, as a forward pass holds them when loaded:
// decoder Linears (the matrices inside a layer) stored in BF16 or binary16 stay in 16 bits (CausalLm's
// contract), everything else is float32.
std::int64_t bytesWhere(const Model& model, const std::function<bool(const WeightInfo&)>& pick, bool asLoaded = false) {
    std::int64_t n = 0;
    for (const auto& w : model.weights()) {
        const bool half = asLoaded && w.layerIndex >= 0 && w.shape.size() == 2 && (w.dtype == DType::BF16 || w.dtype == DType::F16);
        if (pick(w)) n += numel(w.shape) * (half ? 2 : 4);
    }
    return n;
}
std::int64_t heldBytesWhere(const Model& model, const std::function<bool(const WeightInfo&)>& pick) {
    return bytesWhere(model, pick, true);
}

// Bytes that stay resident (embedding, head, final norm: float32) and of the largest decoder layer,
// in float32 (at least a quantized layer) and as loaded.
struct LayerBytes {
    std::int64_t resident = 0, largestLayer = 0, largestHeldLayer = 0;
};
LayerBytes layerBytes(const Model& model) {
    LayerBytes b;
    b.resident = bytesWhere(model, [](const WeightInfo& w) { return w.layerIndex < 0; });
    for (int l = 0; l < model.config().numLayers; ++l) {
        const auto inLayer = [&](const WeightInfo& w) { return w.layerIndex == l; };
        b.largestLayer = std::max(b.largestLayer, bytesWhere(model, inLayer));
        b.largestHeldLayer = std::max(b.largestHeldLayer, heldBytesWhere(model, inLayer));
    }
    return b;
}

void expectSameComparison(const ComparisonResult& got, const ComparisonResult& want) {
    EXPECT_LT(relErr(got.reference.perplexity, want.reference.perplexity), 1e-6);
    EXPECT_LT(relErr(got.candidate.perplexity, want.candidate.perplexity), 1e-6);
    EXPECT_EQ(got.kld.tokens, want.kld.tokens);
    EXPECT_NEAR(got.kld.mean, want.kld.mean, 1e-6 * std::max(1.0, want.kld.mean));
    EXPECT_NEAR(got.kld.meanStdError, want.kld.meanStdError, 1e-6);
    EXPECT_NEAR(got.kld.median, want.kld.median, 1e-6);
    EXPECT_NEAR(got.kld.p99, want.kld.p99, 1e-6);
    EXPECT_NEAR(got.kld.p999, want.kld.p999, 1e-6);
    EXPECT_NEAR(got.kld.max, want.kld.max, 1e-6);
    EXPECT_NEAR(got.kld.top1Agreement, want.kld.top1Agreement, 1e-6);
}

} // namespace

TEST(LayerMajor, Fp32PerplexityMatchesReference) {
    const LayerMajorResult r = evaluateLayerMajor(fixtureModel(), testTokens(), {128, 0}, std::nullopt, {});
    EXPECT_EQ(r.perplexity.windows, 64);
    EXPECT_EQ(r.perplexity.tokensScored, 8128);
    EXPECT_LT(relErr(r.perplexity.perplexity, reference()["ppl_fp32"].get<double>()), 1e-4)
        << r.perplexity.perplexity;
    EXPECT_NEAR(r.perplexity.meanNll, reference()["mean_nll_fp32"].get<double>(), 1e-5);
    EXPECT_FALSE(r.comparison);
    EXPECT_FALSE(r.quant);
}

TEST(LayerMajor, RtnInt4Group32MatchesReferenceAndTheWindowMajorKld) {
    const QuantJob job = rtn(FormatId::Int4, Granularity::Group, 32, false);
    const LayerMajorResult r = evaluateLayerMajor(fixtureModel(), testTokens(), {128, 0}, quantized(job), {});
    ASSERT_TRUE(r.comparison);
    EXPECT_LT(relErr(r.perplexity.perplexity, reference()["rtn"]["int4_g32_asym"]["ppl"].get<double>()), 1e-4)
        << r.perplexity.perplexity;
    EXPECT_LT(relErr(r.comparison->reference.perplexity, reference()["ppl_fp32"].get<double>()), 1e-4);
    EXPECT_EQ(r.perplexity.perplexity, r.comparison->candidate.perplexity);

    // The window-major path over whole-model weights: same KLD and top-1 agreement.
    const ModelQuantResult whole = quantizeModel(fixtureModel(), registries(), job, {}, true);
    const CausalLm candidate(fixtureLm(), whole.weights);
    const ComparisonResult want = compareWithReference(fixtureLm(), candidate, testTokens(), {128, 0}, {});
    expectSameComparison(*r.comparison, want);
    EXPECT_GT(r.comparison->kld.mean, 1e-4); // a real difference, not two fp32 models

    // Per-layer quantization adds up to the whole-model accounting.
    ASSERT_TRUE(r.quant);
    EXPECT_EQ(r.quant->layers.size(), whole.layers.size());
    EXPECT_EQ(r.quant->quantizedParams, whole.quantizedParams);
    EXPECT_EQ(r.quant->totalParams, whole.totalParams);
    EXPECT_NEAR(r.quant->bitsPerWeight, whole.bitsPerWeight, 1e-12);
    EXPECT_NEAR(r.quant->modelBitsPerWeight, whole.modelBitsPerWeight, 1e-12);
    EXPECT_TRUE(r.quant->weights.empty());
    EXPECT_EQ(r.quant->job.toJson(), whole.job.toJson());
}

TEST(LayerMajor, OtherRtnFormatsMatchReference) {
    struct Case {
        const char* key;
        QuantJob job;
    };
    for (const Case& c : {Case{"int8_perchannel_sym", rtn(FormatId::Int8, Granularity::Channel, 128, true)},
                          Case{"nvfp4", rtn(FormatId::NvFp4, Granularity::Block, 16, true)}}) {
        const LayerMajorResult r =
            evaluateLayerMajor(fixtureModel(), testTokens(), {128, 0}, quantized(c.job), {});
        const double want = reference()["rtn"][c.key]["ppl"].get<double>();
        EXPECT_LT(relErr(r.perplexity.perplexity, want), 1e-4) << c.key << ": " << r.perplexity.perplexity;
    }
}

TEST(LayerMajor, ActivationAndKvHooksEqualTheWindowMajorPath) {
    ForwardHooks hooks;
    hooks.activation = QuantSpec{FormatId::Int8, Granularity::Token, 128, true};
    hooks.kvCache = QuantSpec{FormatId::Int4, Granularity::Group, 16, false};
    const EvalOptions opts{128, 12};
    // Hooks only: the candidate keeps the float32 weights.
    LayerMajorCandidate hooksOnly;
    hooksOnly.hooks = hooks;
    const LayerMajorResult a = evaluateLayerMajor(fixtureModel(), testTokens(), opts, hooksOnly, {});
    CausalLm withHooks(fixtureLm(), {});
    withHooks.setHooks(hooks);
    ASSERT_TRUE(a.comparison);
    expectSameComparison(*a.comparison, compareWithReference(fixtureLm(), withHooks, testTokens(), opts, {}));
    EXPECT_GT(a.comparison->kld.mean, 0.0);

    // Hooks and quantized weights together.
    const QuantJob job = rtn(FormatId::Int3, Granularity::Group, 32, false);
    const LayerMajorResult b =
        evaluateLayerMajor(fixtureModel(), testTokens(), opts, quantized(job, hooks), {});
    CausalLm both(fixtureLm(), quantizeModel(fixtureModel(), registries(), job, {}, true).weights);
    both.setHooks(hooks);
    ASSERT_TRUE(b.comparison);
    expectSameComparison(*b.comparison, compareWithReference(fixtureLm(), both, testTokens(), opts, {}));
    EXPECT_GT(b.comparison->kld.mean, a.comparison->kld.mean);
}

TEST(LayerMajor, SameModelHasZeroDivergence) {
    const LayerMajorResult r =
        evaluateLayerMajor(fixtureModel(), testTokens(), {128, 4}, LayerMajorCandidate{}, {});
    ASSERT_TRUE(r.comparison);
    EXPECT_EQ(r.comparison->kld.tokens, 4 * 127);
    EXPECT_LT(r.comparison->kld.max, 1e-12);
    EXPECT_EQ(r.comparison->kld.top1Agreement, 1.0);
    EXPECT_EQ(r.comparison->deltaPerplexity(), 0.0);
}

TEST(LayerMajor, PeakWeightBytesStayWithinOneLayer) {
    const Model& model = fixtureModel();
    const auto [resident, largestLayer, largestHeldLayer] = layerBytes(model);
    const std::int64_t full = heldBytesWhere(model, [](const WeightInfo&) { return true; });
    const std::int64_t full32 = model.parameterCount() * 4;
    const auto bound = static_cast<double>(resident) + 1.5 * static_cast<double>(largestLayer);

    const LayerMajorResult fp32 = evaluateLayerMajor(model, testTokens(), {128, 8}, std::nullopt, {});
    EXPECT_GE(static_cast<double>(fp32.peakWeightBytes), static_cast<double>(resident + largestHeldLayer));
    EXPECT_LT(static_cast<double>(fp32.peakWeightBytes), static_cast<double>(resident) + 1.5 * static_cast<double>(largestHeldLayer));
    EXPECT_LT(static_cast<double>(fp32.peakWeightBytes), 0.5 * static_cast<double>(full));

    // A quantized layer takes at most float32: within one of them, and under half the float32 model.
    const LayerMajorResult q = evaluateLayerMajor(
        model, testTokens(), {128, 8}, quantized(rtn(FormatId::Int4, Granularity::Group, 32, false)), {});
    EXPECT_LT(static_cast<double>(q.peakWeightBytes), bound);
    EXPECT_LT(static_cast<double>(q.peakWeightBytes), 0.5 * static_cast<double>(full32));

    // The whole-model path holds every weight: the counter says so.
    const CausalLm whole(model);
    EXPECT_EQ(static_cast<std::int64_t>(whole.peakWeightBytes()), full);
    EXPECT_EQ(whole.weightBytes(), whole.peakWeightBytes());
}

TEST(LayerByLayer, LoadRunReleaseEqualsTheWholeModel) {
    const Model& model = fixtureModel();
    CausalLm lazy = CausalLm::layerByLayer(model);
    const std::int64_t resident = bytesWhere(model, [](const WeightInfo& w) { return w.layerIndex < 0; });
    EXPECT_EQ(static_cast<std::int64_t>(lazy.weightBytes()), resident);
    EXPECT_EQ(lazy.numLayers(), 4);
    EXPECT_FALSE(lazy.layerLoaded(0));
    EXPECT_TRUE(fixtureLm().layerLoaded(0));
    EXPECT_EQ(lazy.layerSites(1).size(), fixtureLm().layerSites(1).size()); // names without weights

    const std::vector<std::int32_t> ids(testTokens().begin(), testTokens().begin() + 32);
    EXPECT_THROW(lazy.forward(ids), Error);
    RowMatrixF x = lazy.embed(ids);
    EXPECT_THROW(lazy.runLayer(0, x), Error);
    for (int l = 0; l < lazy.numLayers(); ++l) {
        lazy.loadLayer(l);
        EXPECT_TRUE(lazy.layerLoaded(l));
        EXPECT_EQ(static_cast<std::int64_t>(lazy.weightBytes()),
                  resident + heldBytesWhere(model, [&](const WeightInfo& w) { return w.layerIndex == l; }));
        lazy.runLayer(l, x);
        lazy.releaseLayer(l);
        EXPECT_FALSE(lazy.layerLoaded(l));
    }
    EXPECT_EQ(static_cast<std::int64_t>(lazy.weightBytes()), resident);
    const RowMatrixF got = lazy.logits(x);
    const RowMatrixF want = fixtureLm().forward(ids);
    EXPECT_EQ((got - want).cwiseAbs().maxCoeff(), 0.0f); // same arithmetic, same order

    // A replaced weight goes into its own layer only.
    const std::string q0 = "model.layers.0.self_attn.q_proj.weight";
    std::vector<float> zeros(192 * 192, 0.0f);
    EXPECT_THROW(lazy.loadLayer(1, {{q0, zeros}}), Error);
    EXPECT_THROW(lazy.loadLayer(0, {{q0, std::vector<float>(5)}}), Error);
    EXPECT_NO_THROW(lazy.loadLayer(0, {{q0, zeros}}));
    EXPECT_THROW(lazy.loadLayer(4), Error);
    EXPECT_THROW(lazy.releaseLayer(-1), Error);
    CausalLm whole(model);
    EXPECT_THROW(whole.loadLayer(0), Error);
    EXPECT_THROW(whole.releaseLayer(0), Error);
}

TEST(LayerMajor, Gpt2AndMistralEqualTheWindowMajorPath) {
    // Conv1D (transposed) weights, biases, a tied head and learned positions; a sliding window.
    for (const char* type : {"gpt2", "mistral"}) {
        qs::test::TinySpec s;
        s.modelType = type;
        s.slidingWindow = std::string(type) == "mistral" ? 5 : 0;
        const auto dir = qs::test::outputDir(std::string("layer_major_") + type);
        qs::test::writeTinyModel(dir, s);
        const auto model = openModel(dir);
        std::vector<std::int32_t> ids(8 * 16);
        for (std::size_t i = 0; i < ids.size(); ++i)
            ids[i] = static_cast<std::int32_t>((i * 7 + 3) % 40);
        const EvalOptions opts{16, 0};
        const QuantJob job = rtn(FormatId::Int4, Granularity::Group, 16, false);
        const LayerMajorResult r = evaluateLayerMajor(*model, ids, opts, quantized(job), {});
        const CausalLm ref(*model);
        const CausalLm cand(ref, quantizeModel(*model, registries(), job, {}, true).weights);
        ASSERT_TRUE(r.comparison) << type;
        expectSameComparison(*r.comparison, compareWithReference(ref, cand, ids, opts, {}));
        EXPECT_GT(r.comparison->kld.mean, 0.0) << type;
        EXPECT_LT(relErr(evaluateLayerMajor(*model, ids, opts, std::nullopt, {}).perplexity.perplexity,
                         evaluatePerplexity(ref, ids, opts, {}).perplexity),
                  1e-6)
            << type;
    }
}

TEST(LayerMajor, ProgressPerLayerAndCancellation) {
    std::vector<long long> done;
    JobContext job;
    job.progress = [&](long long d, long long total, const std::string&) {
        EXPECT_EQ(total, 5); // 4 layers + logits
        done.push_back(d);
    };
    evaluateLayerMajor(fixtureModel(), testTokens(), {128, 2}, std::nullopt, job);
    ASSERT_GE(done.size(), 5u);
    EXPECT_TRUE(std::is_sorted(done.begin(), done.end()));
    EXPECT_EQ(done.front(), 0);
    EXPECT_EQ(done.back(), 5);

    CancelToken cancel;
    JobContext cancelling;
    cancelling.cancel = &cancel;
    cancelling.progress = [&](long long d, long long, const std::string&) {
        if (d == 2) cancel.cancel(); // during layer 3
    };
    EXPECT_THROW(evaluateLayerMajor(fixtureModel(), testTokens(), {128, 2}, std::nullopt, cancelling),
                 Cancelled);
}

namespace {

// The GPTQ protocol's calibration (fixtures/README.md 2.6): 32 windows of 128 tokens of calib.txt.
const CalibrationData& calibration() {
    static const CalibrationData d =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 128, 32);
    return d;
}

LayerMajorCandidate calibrated(const QuantJob& job) {
    LayerMajorCandidate c = quantized(job);
    c.calibration = &calibration();
    return c;
}

} // namespace

TEST(LayerMajor, CalibratedMethodsEqualTheLayerSequentialPath) {
    const Model& model = fixtureModel();
    const LayerBytes bytes = layerBytes(model);
    for (const char* method : {"gptq", "awq"}) {
        QuantJob job = rtn(FormatId::Int4, Granularity::Group, 32, false);
        job.method = method;
        const LayerMajorResult r = evaluateLayerMajor(model, testTokens(), {128, 0}, calibrated(job), {});
        ASSERT_TRUE(r.comparison) << method;
        ASSERT_TRUE(r.quant) << method;

        // quantizeModel over the whole float32 model, then the window-major comparison.
        const ModelQuantResult whole = quantizeModel(model, registries(), job, {}, true, {}, &calibration());
        const CausalLm candidate(fixtureLm(), whole.weights);
        const ComparisonResult want = compareWithReference(fixtureLm(), candidate, testTokens(), {128, 0}, {});
        expectSameComparison(*r.comparison, want);
        EXPECT_GT(r.comparison->kld.mean, 1e-4) << method;
        ASSERT_EQ(r.quant->layers.size(), whole.layers.size()) << method;
        for (const LayerQuantResult& l : whole.layers) { // same weights: same per-weight errors
            const auto it = std::find_if(r.quant->layers.begin(), r.quant->layers.end(),
                                         [&](const LayerQuantResult& x) { return x.name == l.name; });
            ASSERT_NE(it, r.quant->layers.end()) << l.name;
            EXPECT_NEAR(it->error.mse, l.error.mse, 1e-6 * l.error.mse) << method << " " << l.name;
        }
        EXPECT_NEAR(r.quant->bitsPerWeight, whole.bitsPerWeight, 1e-12) << method;
        EXPECT_NEAR(r.quant->modelBitsPerWeight, whole.modelBitsPerWeight, 1e-12) << method;
        EXPECT_EQ(r.quant->calibration, whole.calibration) << method;
        EXPECT_EQ(r.quant->calibration["windows"].get<int>(), 32);
        EXPECT_EQ(r.quant->job.toJson(), whole.job.toJson()) << method;
        EXPECT_TRUE(r.quant->weights.empty());
        EXPECT_LT(static_cast<double>(r.peakWeightBytes),
                  static_cast<double>(bytes.resident) + 1.5 * static_cast<double>(bytes.largestLayer))
            << method;

        if (std::string(method) == "gptq") {
            // PyTorch's GPTQ (reference.json): the perplexity increase over fp32 within 25 %.
            const double fp32 = reference()["ppl_fp32"].get<double>();
            const double refPpl = reference()["gptq"]["int4_g32_asym"]["current"]["ppl"].get<double>();
            const double ppl = r.perplexity.perplexity;
            EXPECT_LE(std::fabs((ppl - fp32) - (refPpl - fp32)), 0.25 * (refPpl - fp32)) << ppl;
            EXPECT_LT(ppl, reference()["rtn"]["int4_g32_asym"]["ppl"].get<double>());
        }
    }
}

TEST(LayerMajor, CalibratedMethodNeedsCalibrationAndTransformsAreRejectedByName) {
    QuantJob gptq = rtn(FormatId::Int4, Granularity::Group, 32, false);
    gptq.method = "gptq";
    try {
        evaluateLayerMajor(fixtureModel(), testTokens(), {128, 2}, quantized(gptq), {});
        FAIL() << "gptq ran without calibration data";
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("gptq"), std::string::npos) << m;
        EXPECT_NE(m.find("--calib"), std::string::npos) << m;
    }
    EXPECT_NO_THROW(checkLayerMajorRecipe(gptq, registries()));
    // Every built-in transform runs one layer at a time (SmoothQuant and ResQ from the calibration
    // stream, so not without calibration data); a transform that needs the whole model is refused by name.
    for (const char* name : {"rotate", "smoothquant", "resq"}) {
        QuantJob transformed = rtn(FormatId::Int4, Granularity::Group, 32, false);
        transformed.transforms.push_back({name, nlohmann::json::object()});
        EXPECT_NO_THROW(checkLayerMajorRecipe(transformed, registries())) << name;
    }
    QuantJob smoothed = rtn(FormatId::Int4, Granularity::Group, 32, false);
    smoothed.transforms.push_back({"smoothquant", nlohmann::json::object()});
    try {
        evaluateLayerMajor(fixtureModel(), testTokens(), {128, 2}, quantized(smoothed), {});
        FAIL() << "smoothquant ran without calibration data";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--calib"), std::string::npos) << e.what();
    }
    struct WholeModelTransform final : ModelTransform {
        std::string_view name() const override { return "whole"; }
        std::string_view summary() const override { return "needs every layer at once"; }
        const ParamSchema& params() const override {
            static const ParamSchema none{};
            return none;
        }
        bool needsCalibration() const override { return false; }
        void apply(const TransformInput&, const nlohmann::json&, TransformedModel&) const override {}
    };
    Registry<ModelTransform> transforms;
    transforms.add(std::make_unique<WholeModelTransform>());
    try {
        requirePerLayerTransforms(transforms, {{"whole", nlohmann::json::object()}});
        FAIL() << "a whole-model transform was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'whole'"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(checkLayerMajorRecipe(rtn(FormatId::Int4, Granularity::Group, 32, false), registries()));
    // Bad data is still an error, not garbage.
    std::vector<std::int32_t> bad(testTokens().begin(), testTokens().begin() + 32);
    bad[20] = 4096;
    EXPECT_THROW(evaluateLayerMajor(fixtureModel(), bad, {16, 0}, std::nullopt, {}), Error);
    EXPECT_THROW(evaluateLayerMajor(fixtureModel(), bad, {64, 0}, std::nullopt, {}), Error);
}
