// SPDX-License-Identifier: MIT
// The float32 forward pass (core/nn) against the PyTorch references of the fixture and against an
// independent naive float64 implementation on tiny random Llama / Qwen2 / Mistral / GPT-2 models.
#include "experiment/builtins.h"
#include "quant/model_quantizer.h"
#include "fixture_models.h"
#include "fixture_paths.h"
#include "io/npy.h"
#include "naive_lm.h"
#include "nn/causal_lm.h"
#include "tensor/gemm_bf16.h"
#include "base/error.h"

#include <cmath>
#include <gtest/gtest.h>

#include <functional>
#include <omp.h>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

std::vector<std::int32_t> readTokens(const fs::path& p) {
    const Tensor t = readNpy(p);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < ids.size(); ++i)
        ids[i] = t.dtype() == DType::I64 ? static_cast<std::int32_t>(t.data<std::int64_t>()[i])
                                         : t.data<std::int32_t>()[i];
    return ids;
}

// Max |a - b| over a logits matrix and a float32 .npy of the same shape.
double maxAbsDiff(const RowMatrixF& got, const fs::path& refFile) {
    const Tensor ref = readNpy(refFile);
    EXPECT_EQ(ref.dtype(), DType::F32);
    EXPECT_EQ(ref.shape(), (Shape{got.rows(), got.cols()})) << refFile;
    if (ref.numel() != got.size()) return INFINITY;
    double m = 0;
    for (std::int64_t i = 0; i < got.size(); ++i)
        m = std::max(m, std::fabs(static_cast<double>(got.data()[i]) - ref.data<float>()[i]));
    return m;
}

double maxAbsDiff(const RowMatrixF& got, const qs::test::NaiveLm::Mat& want) {
    double m = 0;
    EXPECT_EQ(static_cast<std::size_t>(got.rows()), want.size());
    for (std::size_t t = 0; t < want.size(); ++t)
        for (std::size_t v = 0; v < want[t].size(); ++v)
            m = std::max(m, std::fabs(got(t, v) - want[t][v]));
    return m;
}

using qs::test::fixtureLm;
using qs::test::fixtureModel;

std::map<std::string, std::vector<float>> rtnWeights(const QuantSpec& spec) {
    Registries reg;
    registerBuiltins(reg);
    QuantJob job;
    job.method = "rtn";
    job.spec = spec;
    return quantizeModel(fixtureModel(), reg, job, {}, true).weights;
}

} // namespace

// ---- the fixture model against PyTorch ------------------------------------------------------------

class FixtureLogits : public ::testing::TestWithParam<int> {};

TEST_P(FixtureLogits, MatchPyTorch) {
    const int n = GetParam();
    const auto ids = readTokens(qs::test::tinyLlama() / ("ref_tokens_" + std::to_string(n) + ".npy"));
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(n));
    const RowMatrixF logits = fixtureLm().forward(ids);
    ASSERT_EQ(logits.rows(), n);
    ASSERT_EQ(logits.cols(), 512);
    EXPECT_LT(maxAbsDiff(logits, qs::test::tinyLlama() / ("ref_logits_" + std::to_string(n) + ".npy")), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Lengths, FixtureLogits, ::testing::Values(7, 32, 128));

TEST(Forward, FixtureHiddenStatesMatchPyTorch) {
    const auto ids = readTokens(qs::test::tinyLlama() / "ref_tokens_7.npy");
    std::vector<RowMatrixF> hidden;
    fixtureLm().forward(ids, &hidden);
    const Tensor ref = readNpy(qs::test::tinyLlama() / "ref_hidden_7.npy");
    ASSERT_EQ(ref.shape(), (Shape{5, 7, 192}));
    ASSERT_EQ(hidden.size(), 5u);
    for (std::size_t l = 0; l < hidden.size(); ++l) {
        ASSERT_EQ(hidden[l].rows(), 7);
        ASSERT_EQ(hidden[l].cols(), 192);
        double m = 0;
        for (std::int64_t i = 0; i < 7 * 192; ++i)
            m = std::max(
                m, std::fabs(static_cast<double>(hidden[l].data()[i]) - ref.data<float>()[l * 7 * 192 + i]));
        EXPECT_LT(m, 1e-4) << "hidden state " << l;
    }
}

struct QuantCase {
    const char* file; ///< ref_logits_7_<file>.npy
    const char* format;
    Granularity granularity;
    int group;
    bool symmetric;
};

class FixtureQuantLogits : public ::testing::TestWithParam<QuantCase> {};

TEST_P(FixtureQuantLogits, RtnWeightsMatchPyTorch) {
    const QuantCase c = GetParam();
    const FormatTraits* f = findFormat(c.format);
    if (!f) GTEST_SKIP() << c.format << " is not in the format table yet";
    const CausalLm lm(fixtureModel(), rtnWeights({f->id, c.granularity, c.group, c.symmetric}));
    const auto ids = readTokens(qs::test::tinyLlama() / "ref_tokens_7.npy");
    const RowMatrixF logits = lm.forward(ids);
    EXPECT_LT(maxAbsDiff(logits, qs::test::tinyLlama() / (std::string("ref_logits_7_") + c.file + ".npy")),
              1e-3);
    // The quantized model really differs from the fp32 one.
    EXPECT_GT((logits - fixtureLm().forward(ids)).cwiseAbs().maxCoeff(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, FixtureQuantLogits,
    ::testing::Values(QuantCase{"int8_perchannel_sym", "int8", Granularity::Channel, 128, true},
                      QuantCase{"int4_perchannel_sym", "int4", Granularity::Channel, 128, true},
                      QuantCase{"int4_g32_asym", "int4", Granularity::Group, 32, false},
                      QuantCase{"int3_g32_asym", "int3", Granularity::Group, 32, false},
                      QuantCase{"mxfp4", "mxfp4", Granularity::Block, 32, true},
                      QuantCase{"nvfp4", "nvfp4", Granularity::Block, 16, true}),
    [](const auto& info) { return std::string(info.param.file); });

TEST(Forward, SharedVariantEqualsAFreshlyLoadedOne) {
    const QuantSpec spec{FormatId::Int4, Granularity::Group, 32, false};
    const CausalLm fresh(fixtureModel(), rtnWeights(spec));
    const CausalLm shared(fixtureLm(), rtnWeights(spec));
    const auto ids = readTokens(qs::test::tinyLlama() / "ref_tokens_32.npy");
    EXPECT_EQ((fresh.forward(ids) - shared.forward(ids)).cwiseAbs().maxCoeff(), 0.0f);
    // 28 Linears replaced, embedding / norms / head shared with the base model, which holds its 28
    // Linears (4 layers x 393216 values) in the checkpoint's BF16 and the rest in float32.
    EXPECT_EQ(fixtureLm().weightBytes(), (1771200u - 4 * 393216u) * 4 + 4 * 393216u * 2);
}

TEST(Forward, LongSequenceUsesThreadsWithTheSameResult) {
    // 512 tokens: 512 * 192^2 multiply-adds per projection is above the threshold for threading.
    const Tensor t = readNpy(qs::test::tinyLlama() / "ref_test_tokens.npy");
    const std::vector<std::int32_t> ids(t.data<std::int32_t>(), t.data<std::int32_t>() + 512);
    const int before = omp_get_max_threads();
    omp_set_num_threads(1);
    const RowMatrixF one = fixtureLm().forward(ids);
    omp_set_num_threads(2);
    const RowMatrixF two = fixtureLm().forward(ids);
    EXPECT_EQ(omp_get_max_threads(), 2);
    // A short sequence runs serially and leaves the caller's thread setting alone.
    fixtureLm().forward(std::span(ids).first(7));
    EXPECT_EQ(omp_get_max_threads(), 2);
    omp_set_num_threads(before);
    EXPECT_LT((one - two).cwiseAbs().maxCoeff(), 1e-4f);
    // The first 128 positions are window 0 of the perplexity protocol: causal, so equal to ref_logits_128.
    EXPECT_LT(maxAbsDiff(RowMatrixF(one.topRows(128)), qs::test::tinyLlama() / "ref_logits_128.npy"), 1e-3);
}

TEST(Forward, RejectsBadInput) {
    const std::vector<std::int32_t> bad{1, 2, 512};
    EXPECT_THROW(fixtureLm().forward(bad), Error);
    EXPECT_THROW(fixtureLm().forward(std::span<const std::int32_t>{}), Error);
    std::map<std::string, std::vector<float>> unknown;
    unknown["model.layers.9.mlp.up_proj.weight"] = std::vector<float>(4);
    EXPECT_THROW(CausalLm(fixtureModel(), std::move(unknown)), Error);
    std::map<std::string, std::vector<float>> wrongSize;
    wrongSize["model.layers.0.mlp.up_proj.weight"] = std::vector<float>(4);
    EXPECT_THROW(CausalLm(fixtureModel(), std::move(wrongSize)), Error);
}

TEST(Forward, LoadingReportsProgressPerLayer) {
    long long last = -1, total = 0;
    JobContext ctx;
    ctx.progress = [&](long long done, long long t, const std::string&) {
        EXPECT_GE(done, last);
        last = done;
        total = t;
    };
    CausalLm lm(fixtureModel(), {}, ctx);
    EXPECT_EQ(total, 5);
    EXPECT_EQ(last, 5);
    CancelToken cancel;
    cancel.cancel();
    JobContext cancelled;
    cancelled.cancel = &cancel;
    EXPECT_THROW(CausalLm(fixtureModel(), {}, cancelled), Cancelled);
}

// ---- tiny random models against the naive float64 implementation ----------------------------------

namespace {

const std::vector<int> kIds{3, 17, 5, 0, 39, 22, 8, 8, 31};

double checkAgainstNaive(const qs::test::TinySpec& spec, const std::string& name,
                         const ForwardHooks& hooks = {}, std::vector<int> ids = kIds) {
    const fs::path dir = qs::test::outputDir("forward_" + name);
    const auto weights = qs::test::writeTinyModel(dir, spec);
    const auto model = openModel(dir);
    CausalLm lm(*model);
    lm.setHooks(hooks);
    qs::test::NaiveLm naive(spec, weights);
    naive.activationQuant = hooks.activation;
    naive.kvQuant = hooks.kvCache;
    naive.bf16Products = hooks.bf16Products;
    const std::vector<std::int32_t> ids32(ids.begin(), ids.end());
    return maxAbsDiff(lm.forward(ids32), naive.forward(ids));
}

} // namespace

TEST(ForwardNaive, Gpt2WithTransformerPrefix) {
    qs::test::TinySpec s;
    s.modelType = "gpt2";
    s.heads = 4;
    EXPECT_LT(checkAgainstNaive(s, "gpt2"), 1e-4);
}

TEST(ForwardNaive, Gpt2WithoutPrefixAndExactGelu) {
    qs::test::TinySpec s;
    s.modelType = "gpt2";
    s.gpt2Prefix = "";
    s.activation = "gelu";
    EXPECT_LT(checkAgainstNaive(s, "gpt2_noprefix"), 1e-4);
}

TEST(ForwardNaive, Gpt2RejectsMoreTokensThanPositions) {
    qs::test::TinySpec s;
    s.modelType = "gpt2";
    s.maxPositions = 8;
    const fs::path dir = qs::test::outputDir("forward_gpt2_short");
    qs::test::writeTinyModel(dir, s);
    const auto model = openModel(dir);
    const CausalLm lm(*model);
    const std::vector<std::int32_t> ids(9, 1);
    EXPECT_THROW(lm.forward(ids), Error);
    EXPECT_NO_THROW(lm.forward(std::span(ids).first(8)));
}

TEST(ForwardNaive, Qwen2WithBiasesAndTiedEmbeddings) {
    qs::test::TinySpec s;
    s.modelType = "qwen2";
    s.tied = true;
    s.theta = 1000000.0;
    EXPECT_LT(checkAgainstNaive(s, "qwen2"), 1e-4);
}

TEST(ForwardNaive, LlamaWithoutGqaAndWithAttentionBias) {
    qs::test::TinySpec s;
    s.kvHeads = 4;
    s.qkvBias = true;
    EXPECT_LT(checkAgainstNaive(s, "llama_mha"), 1e-4);
}

TEST(ForwardNaive, MistralSlidingWindow) {
    qs::test::TinySpec s;
    s.modelType = "mistral";
    s.slidingWindow = 3;
    EXPECT_LT(checkAgainstNaive(s, "mistral_window"), 1e-4);
    // And the same Mistral config without a window.
    s.slidingWindow = 0;
    EXPECT_LT(checkAgainstNaive(s, "mistral_full"), 1e-4);
}

class RopeScaling : public ::testing::TestWithParam<const char*> {};

TEST_P(RopeScaling, MatchesNaive) {
    qs::test::TinySpec s;
    s.hidden = 64; // head_dim 16: eight frequencies spanning short and long wavelengths
    s.maxPositions = 6;
    s.ropeScaling = nlohmann::json::parse(GetParam());
    std::vector<int> ids;
    for (int i = 0; i < 14; ++i)
        ids.push_back((i * 7 + 3) % 40); // longer than max_position_embeddings
    // One folder per case: ctest runs the cases in parallel processes.
    const std::string dir = "rope_" + std::to_string(std::hash<std::string>{}(GetParam()));
    EXPECT_LT(checkAgainstNaive(s, dir, {}, ids), 1e-4) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Types, RopeScaling,
    ::testing::Values(
        R"({"type": "linear", "factor": 4.0})", R"({"rope_type": "dynamic", "factor": 2.0})",
        R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 64})",
        R"({"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64})"));

TEST(RopeScalingErrors, UnknownTypeIsAnError) {
    qs::test::TinySpec s;
    s.ropeScaling = nlohmann::json::parse(R"({"type": "longrope", "factor": 2.0})");
    const fs::path dir = qs::test::outputDir("forward_rope_unknown");
    qs::test::writeTinyModel(dir, s);
    const auto model = openModel(dir);
    EXPECT_THROW(CausalLm lm(*model), Error);
}

// ---- activation and KV-cache quantization hooks -------------------------------------------------

TEST(ForwardHooksTest, ActivationAndKvQuantizationMatchNaive) {
    qs::test::TinySpec s;
    ForwardHooks hooks;
    hooks.activation = QuantSpec{FormatId::Int8, Granularity::Channel, 128, true};
    hooks.kvCache = QuantSpec{FormatId::Int4, Granularity::Channel, 128, false};
    // A rounding decision may flip between the float32 and float64 pipelines: a looser tolerance.
    EXPECT_LT(checkAgainstNaive(s, "hooks_llama", hooks), 1e-2);
    s.modelType = "gpt2";
    EXPECT_LT(checkAgainstNaive(s, "hooks_gpt2", hooks), 1e-2);
}

TEST(ForwardHooksTest, Bf16ProductsMatchNaiveOnRoundedOperands) {
    // Every Linear and the head on bf16 operands (on AMX tiles where present, and on the float32
    // products when held back), against the naive float64 pass on the same rounded operands. Rounding
    // moves these logits by far more than the tolerance, so a product left in float32 fails.
    const bool tiles = bf16TilesAvailable();
    for (const bool allow : {true, false}) {
        allowBf16Tiles(allow);
        for (const std::string type : {"llama", "gpt2", "qwen2"}) {
            SCOPED_TRACE(type + (allow && tiles ? " on tiles" : " on float32 products"));
            qs::test::TinySpec s;
            s.modelType = type;
            s.tied = type == "qwen2"; // the head is the embedding
            const fs::path dir = qs::test::outputDir("forward_bf16_" + type);
            const auto weights = qs::test::writeTinyModel(dir, s);
            const auto model = openModel(dir);
            CausalLm lm(*model);
            ForwardHooks hooks;
            hooks.bf16Products = true;
            lm.setHooks(hooks);
            qs::test::NaiveLm rounded(s, weights), exact(s, weights);
            rounded.bf16Products = true;
            const std::vector<std::int32_t> ids32(kIds.begin(), kIds.end());
            const RowMatrixF logits = lm.forward(ids32);
            EXPECT_LT(maxAbsDiff(logits, rounded.forward(kIds)), 1e-4);
            EXPECT_GT(maxAbsDiff(logits, exact.forward(kIds)), 1e-3);
        }
    }
    allowBf16Tiles(true);
}

TEST(ForwardHooksTest, Bf16PanelsFollowReplacedWeights) {
    // A model derived with a replaced weight shares the base's packed panels for the others, never for
    // the replaced one: it gives the bits of a model built with the replacement from the start.
    ForwardHooks hooks;
    hooks.bf16Products = true;
    const std::vector<std::int32_t> ids{5, 17, 300, 2, 44, 8, 8, 511};
    CausalLm base(fixtureModel());
    base.setHooks(hooks);
    const RowMatrixF before = base.forward(ids); // packs every panel
    const std::string name = "model.layers.1.mlp.down_proj.weight";
    std::vector<float> replacement(192 * 512);
    for (std::size_t i = 0; i < replacement.size(); ++i) replacement[i] = 0.01f * static_cast<float>(i % 7) - 0.03f;
    CausalLm derived(base, {{name, replacement}});
    derived.setHooks(hooks);
    CausalLm fresh(fixtureModel(), {{name, replacement}});
    fresh.setHooks(hooks);
    const RowMatrixF after = derived.forward(ids);
    EXPECT_TRUE(after == fresh.forward(ids));
    EXPECT_FALSE(after == before);
}

TEST(ForwardHooksTest, HooksChangeTheFixtureLogitsByTheirPrecision) {
    const auto ids = readTokens(qs::test::tinyLlama() / "ref_tokens_32.npy");
    const RowMatrixF base = fixtureLm().forward(ids);
    auto errorWith = [&](const ForwardHooks& h) {
        CausalLm lm(fixtureLm(), {});
        lm.setHooks(h);
        return static_cast<double>((lm.forward(ids) - base).cwiseAbs().maxCoeff());
    };
    ForwardHooks a8, a4, kv8, kv3;
    a8.activation = QuantSpec{FormatId::Int8, Granularity::Channel, 128, true};
    a4.activation = QuantSpec{FormatId::Int4, Granularity::Channel, 128, true};
    kv8.kvCache = QuantSpec{FormatId::Int8, Granularity::Channel, 128, true};
    kv3.kvCache = QuantSpec{FormatId::Int3, Granularity::Channel, 128, true};
    const double e8 = errorWith(a8), e4 = errorWith(a4), k8 = errorWith(kv8), k3 = errorWith(kv3);
    EXPECT_GT(e8, 0.0);
    EXPECT_GT(e4, 4 * e8);
    EXPECT_GT(k8, 0.0);
    EXPECT_GT(k3, 4 * k8);
    EXPECT_LT(e8, 0.5);
}
