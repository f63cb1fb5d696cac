// SPDX-License-Identifier: MIT
// Perplexity and KL divergence (core/eval) against the fixture's PyTorch reference numbers.
#include "builtin_registries.h"
#include "experiment/builtins.h"
#include "experiment/quality_report.h"
#include "quant/model_quantizer.h"
#include "eval/perplexity.h"
#include "eval/token_metrics.h"
#include "fixture_models.h"
#include "fixture_paths.h"
#include "io/npy.h"
#include "base/error.h"

#include <cmath>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <omp.h>

using namespace qs::core;

namespace {

using qs::test::fixtureLm;
using qs::test::fixtureModel;

const std::vector<std::int32_t>& testTokens() { return qs::test::fixtureTestTokens(); }
const nlohmann::json& reference() { return qs::test::fixtureReference(); }

CausalLm rtnModel(const QuantSpec& spec) {
    Registries reg;
    registerBuiltins(reg);
    QuantJob job;
    job.method = "rtn";
    job.spec = spec;
    return CausalLm(fixtureLm(), quantizeModel(fixtureModel(), reg, job, {}, true).weights);
}

double relErr(double got, double want) {
    return std::fabs(got - want) / std::fabs(want);
}

} // namespace

TEST(Perplexity, Fp32MatchesReference) {
    const PerplexityResult r = evaluatePerplexity(fixtureLm(), testTokens(), {128, 0}, {});
    EXPECT_EQ(r.windows, 64);
    EXPECT_EQ(r.tokensScored, 8128);
    EXPECT_EQ(r.ctx, 128);
    EXPECT_LT(relErr(r.perplexity, 8.458817407160915), 1e-4) << r.perplexity;
    EXPECT_LT(relErr(r.perplexity, reference()["summary_ppl"]["fp32"].get<double>()), 1e-4);
    EXPECT_LT(std::fabs(r.meanNll - reference()["mean_nll_fp32"].get<double>()), 1e-5);
    const auto j = r.toJson();
    for (const char* key :
         {"perplexity", "mean_nll", "tokens_scored", "windows", "ctx", "seconds", "tokens_per_second"})
        EXPECT_TRUE(j.contains(key)) << key;
}

struct RtnCase {
    const char* key; ///< summary_ppl key without "rtn_"
    const char* format;
    Granularity granularity;
    int group;
    bool symmetric;
};

class RtnPerplexity : public ::testing::TestWithParam<RtnCase> {};

TEST_P(RtnPerplexity, MatchesReference) {
    const RtnCase c = GetParam();
    const FormatTraits* f = findFormat(c.format);
    if (!f) GTEST_SKIP() << c.format << " is not in the format table yet";
    const CausalLm lm = rtnModel({f->id, c.granularity, c.group, c.symmetric});
    const PerplexityResult r = evaluatePerplexity(lm, testTokens(), {128, 0}, {});
    const double want = reference()["summary_ppl"][std::string("rtn_") + c.key].get<double>();
    EXPECT_LT(relErr(r.perplexity, want), 1e-4) << c.key << ": " << r.perplexity << " vs " << want;
}

INSTANTIATE_TEST_SUITE_P(
    Formats, RtnPerplexity,
    ::testing::Values(RtnCase{"int8_perchannel_sym", "int8", Granularity::Channel, 128, true},
                      RtnCase{"int4_perchannel_sym", "int4", Granularity::Channel, 128, true},
                      RtnCase{"int4_g32_asym", "int4", Granularity::Group, 32, false},
                      RtnCase{"int3_g32_asym", "int3", Granularity::Group, 32, false},
                      RtnCase{"mxfp4", "mxfp4", Granularity::Block, 32, true},
                      RtnCase{"nvfp4", "nvfp4", Granularity::Block, 16, true}),
    [](const auto& info) { return std::string(info.param.key); });

TEST(Perplexity, ResultDoesNotDependOnTheThreadCount) {
    const int before = omp_get_max_threads();
    const EvalOptions opts{128, 6};
    omp_set_num_threads(1);
    const PerplexityResult one = evaluatePerplexity(fixtureLm(), testTokens(), opts, {});
    omp_set_num_threads(3);
    const PerplexityResult three = evaluatePerplexity(fixtureLm(), testTokens(), opts, {});
    omp_set_num_threads(before);
    EXPECT_EQ(one.perplexity, three.perplexity);
    EXPECT_EQ(omp_get_max_threads(), before); // workers' single-thread setting does not leak out
}

TEST(Perplexity, Bf16ProductsStayWithinTheReferenceToleranceAtAnyThreadCount) {
    // Linears and head on bf16 operands: the fixture's perplexity moves, but by less than the
    // reference tolerance; 1 and 2 threads give the same bits.
    CausalLm lm(fixtureModel()); // its own weight meter
    const std::size_t weightBytes = lm.peakWeightBytes();
    ForwardHooks hooks;
    hooks.bf16Products = true;
    lm.setHooks(hooks);
    const int before = omp_get_max_threads();
    omp_set_num_threads(1);
    const PerplexityResult one = evaluatePerplexity(lm, testTokens(), {128, 0}, {});
    omp_set_num_threads(2);
    const PerplexityResult two = evaluatePerplexity(lm, testTokens(), {128, 0}, {});
    omp_set_num_threads(before);
    EXPECT_EQ(one.perplexity, two.perplexity);
    EXPECT_LT(relErr(one.perplexity, reference()["summary_ppl"]["fp32"].get<double>()), 1e-4) << one.perplexity;
    EXPECT_NE(one.perplexity, evaluatePerplexity(fixtureLm(), testTokens(), {128, 0}, {}).perplexity);
    // The bf16 panels are counted: 2 bytes a value of every Linear and the head, at least.
    EXPECT_GE(lm.peakWeightBytes(), weightBytes + 2 * (fixtureModel().parameterCount() - 512 * 192 -
                                                        9 * 192));
}

TEST(Perplexity, WindowsAreFullNonOverlappingAndLimited) {
    std::vector<std::int32_t> ids(1000);
    for (std::size_t i = 0; i < ids.size(); ++i)
        ids[i] = static_cast<std::int32_t>(i % 500);
    const auto all = splitWindows(ids, {128, 0});
    ASSERT_EQ(all.size(), 7u); // 1000 / 128, the partial tail is dropped
    EXPECT_EQ(all[1].data(), ids.data() + 128);
    EXPECT_EQ(all[6].size(), 128u);
    EXPECT_EQ(splitWindows(ids, {128, 3}).size(), 3u);
    EXPECT_EQ(splitWindows(ids, {128, 100}).size(), 7u);
    EXPECT_THROW(splitWindows(ids, {1, 0}), Error);
    EXPECT_THROW(splitWindows(std::span(ids).first(100), {128, 0}), Error);
    // A window's first token is not scored: 2 windows of 16 score 30 tokens.
    const PerplexityResult r = evaluatePerplexity(fixtureLm(), testTokens(), {16, 2}, {});
    EXPECT_EQ(r.tokensScored, 30);
    // Out-of-vocabulary targets are an error, not garbage.
    std::vector<std::int32_t> bad(testTokens().begin(), testTokens().begin() + 32);
    bad[20] = 4096;
    EXPECT_THROW(evaluatePerplexity(fixtureLm(), bad, {16, 0}, {}), Error);
}

TEST(Perplexity, FirstWindowMatchesTheReferenceLogits) {
    // Window 0 is ref_tokens_128: its NLL from the reference logits equals ours.
    const Tensor logits = readNpy(qs::test::tinyLlama() / "ref_logits_128.npy");
    double sum = 0;
    for (int p = 0; p < 127; ++p)
        sum += tokenNll(logits.data<float>() + p * 512, 512, testTokens()[p + 1]);
    const PerplexityResult r = evaluatePerplexity(fixtureLm(), testTokens(), {128, 1}, {});
    EXPECT_NEAR(r.meanNll, sum / 127, 1e-5);
}

TEST(Perplexity, ProgressPerBatchAndCancellation) {
    std::vector<long long> done;
    JobContext job;
    job.progress = [&](long long d, long long total, const std::string&) {
        EXPECT_EQ(total, 8);
        done.push_back(d);
    };
    evaluatePerplexity(fixtureLm(), testTokens(), {128, 8}, job);
    ASSERT_GE(done.size(), 2u);
    EXPECT_EQ(done.front(), 0);
    EXPECT_EQ(done.back(), 8);
    CancelToken cancel;
    JobContext cancelling;
    cancelling.cancel = &cancel;
    // Cancelled at the first report (before any window ran): the next report throws.
    cancelling.progress = [&](long long, long long, const std::string&) { cancel.cancel(); };
    EXPECT_THROW(evaluatePerplexity(fixtureLm(), testTokens(), {128, 0}, cancelling), Cancelled);
}

TEST(Kld, SameModelHasZeroDivergenceAndFullAgreement) {
    const ComparisonResult c = compareWithReference(fixtureLm(), fixtureLm(), testTokens(), {128, 4}, {});
    EXPECT_EQ(c.kld.tokens, 4 * 127);
    EXPECT_LT(std::fabs(c.kld.mean), 1e-12);
    EXPECT_LT(c.kld.max, 1e-12);
    EXPECT_EQ(c.kld.top1Agreement, 1.0);
    EXPECT_EQ(c.reference.perplexity, c.candidate.perplexity);
    EXPECT_EQ(c.deltaPerplexity(), 0.0);
}

TEST(Kld, QuantizedModelAgainstFp32) {
    const CausalLm q = rtnModel({FormatId::Int3, Granularity::Group, 32, false});
    const ComparisonResult c = compareWithReference(fixtureLm(), q, testTokens(), {128, 0}, {});
    EXPECT_LT(relErr(c.reference.perplexity, reference()["summary_ppl"]["fp32"].get<double>()), 1e-4);
    EXPECT_LT(relErr(c.candidate.perplexity, reference()["summary_ppl"]["rtn_int3_g32_asym"].get<double>()),
              1e-4);
    EXPECT_NEAR(c.deltaPerplexity(), 8.634586878665647 - 8.458817407160915, 1e-3);
    EXPECT_EQ(c.kld.tokens, 8128);
    EXPECT_GT(c.kld.mean, 1e-3);
    EXPECT_LT(c.kld.mean, 0.2);
    EXPECT_LE(c.kld.median, c.kld.mean); // KLD is right-skewed
    EXPECT_GE(c.kld.p99, c.kld.median);
    EXPECT_GE(c.kld.p999, c.kld.p99);
    EXPECT_GE(c.kld.max, c.kld.p999);
    EXPECT_GT(c.kld.meanStdError, 0.0);
    EXPECT_GT(c.kld.top1Agreement, 0.7);
    EXPECT_LT(c.kld.top1Agreement, 1.0);
    const auto j = c.toJson();
    for (const char* key :
         {"mean", "median", "p99", "p99_9", "max", "top1_agreement", "tokens", "mean_stderr"})
        EXPECT_TRUE(j["kld"].contains(key)) << key;
}

TEST(Kld, KeptReferenceLogitsGiveTheSameComparison) {
    // A sweep computes the fp32 logits once and compares every recipe with them: the numbers must be
    // those of rerunning fp32 for each, bit for bit.
    const CausalLm q = rtnModel({FormatId::Int4, Granularity::Group, 32, false});
    const EvalOptions opts{128, 8};
    const ComparisonResult plain = compareWithReference(fixtureLm(), q, testTokens(), opts, {});
    const auto kept = referenceLogits(fixtureLm(), testTokens(), opts, 8u << 20, {});
    ASSERT_EQ(kept.size(), 8u);
    const ComparisonResult cached = compareWithReference(fixtureLm(), q, testTokens(), opts, {}, kept);
    EXPECT_EQ(cached.reference.perplexity, plain.reference.perplexity);
    EXPECT_EQ(cached.candidate.perplexity, plain.candidate.perplexity);
    EXPECT_EQ(cached.kld.mean, plain.kld.mean);
    EXPECT_EQ(cached.kld.p999, plain.kld.p999);
    EXPECT_EQ(cached.kld.top1Agreement, plain.kld.top1Agreement);
    // Over the byte limit nothing is kept (8 windows x 128 x 512 floats = 2 MiB).
    EXPECT_TRUE(referenceLogits(fixtureLm(), testTokens(), opts, (2u << 20) - 1, {}).empty());
    // Logits of other windows are refused.
    EXPECT_THROW(compareWithReference(fixtureLm(), q, testTokens(), {128, 4}, {}, kept), Error);
}

TEST(TokenMetrics, HandComputedValues) {
    const float a[3] = {0.0f, std::log(2.0f), std::log(5.0f)}; // softmax = 1/8, 2/8, 5/8
    EXPECT_NEAR(logSumExp(a, 3), std::log(8.0), 1e-7);
    EXPECT_NEAR(tokenNll(a, 3, 0), std::log(8.0), 1e-7);
    EXPECT_NEAR(tokenNll(a, 3, 2), std::log(8.0 / 5.0), 1e-7);
    const float b[3] = {1.0f, 1.0f, 1.0f}; // uniform
    const double kl = (1.0 / 8) * std::log((1.0 / 8) * 3) + (2.0 / 8) * std::log((2.0 / 8) * 3) +
                      (5.0 / 8) * std::log((5.0 / 8) * 3);
    EXPECT_NEAR(klDivergence(a, b, 3), kl, 1e-7);
    EXPECT_NEAR(klDivergence(a, a, 3), 0.0, 1e-12);
    // Shifting logits changes nothing.
    const float a2[3] = {10.0f, 10.0f + std::log(2.0f), 10.0f + std::log(5.0f)};
    EXPECT_NEAR(klDivergence(a, a2, 3), 0.0, 1e-6);
    EXPECT_EQ(argmax(a, 3), 2);
    const float tie[3] = {1.0f, 3.0f, 3.0f};
    EXPECT_EQ(argmax(tie, 3), 1);
    const std::vector<double> sorted{0, 1, 2, 3, 4};
    EXPECT_DOUBLE_EQ(percentileOfSorted(sorted, 0.5), 2.0);
    EXPECT_DOUBLE_EQ(percentileOfSorted(sorted, 0.99), 3.96);
    EXPECT_DOUBLE_EQ(percentileOfSorted(sorted, 1.0), 4.0);
    EXPECT_DOUBLE_EQ(percentileOfSorted({}, 0.5), 0.0);
}

// The headless report's table (compareRecipes: each weight installed as codes as it is made) against
// the fixture's independently computed perplexities of the same RTN recipes. (Its suite name falls under
// scripts/test.sh's "RtnPerplexity" heavy cases: whole-text perplexities run in Release only.)
TEST(RtnPerplexityOfRecipes, CompareRecipesGivesEachRecipesReferencePerplexity) {
    const std::vector<std::pair<std::string, QuantSpec>> recipes = {
        {"rtn_int4_g32_asym", {FormatId::Int4, Granularity::Group, 32, false}},
        {"rtn_int8_perchannel_sym", {FormatId::Int8, Granularity::Channel, 128, true}},
        {"rtn_mxfp4", {FormatId::MxFp4, Granularity::Block, 32, true}}};
    std::vector<QuantJob> jobs;
    for (const auto& [key, spec] : recipes) jobs.push_back({"rtn", spec, nlohmann::json::object()});
    const auto rows = compareRecipes(fixtureModel(), qs::test::builtinRegistries(), testTokens(), {128, 0}, jobs, {});
    ASSERT_EQ(rows.size(), recipes.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const double want = reference()["summary_ppl"][recipes[i].first].get<double>();
        EXPECT_LT(relErr(rows[i].comparison.candidate.perplexity, want), 1e-4) << recipes[i].first;
        EXPECT_LT(relErr(rows[i].comparison.reference.perplexity, reference()["summary_ppl"]["fp32"].get<double>()), 1e-4);
        EXPECT_GT(rows[i].comparison.kld.mean, 0.0) << recipes[i].first;
    }
}
