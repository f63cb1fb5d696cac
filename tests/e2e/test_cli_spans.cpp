// SPDX-License-Identifier: MIT
// `quantscope-cli spans` on the fixture: spans covering every query's whole mass reproduce the full
// model exactly, a larger mass keeps more and moves perplexity less, storing re-opens, bad input is
// a clear error.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();

nlohmann::json spans(const std::string& flags) {
    const CliRun r = runCli("spans " + q(kModel) + " --data " + q(kTokens) + " --windows 4 " + flags + " --json");
    EXPECT_EQ(r.exitCode, 0) << r.out;
    return r.json();
}

} // namespace

TEST(CliSpans, FullMassReproducesTheFullModelExactly) {
    const nlohmann::json j = spans("--mass 1")["result"];
    EXPECT_EQ(j["perplexity"], j["reference_perplexity"]);
    EXPECT_EQ(j["kld"].get<double>(), 0.0);
    EXPECT_EQ(j["attention_work_saved"].get<double>(), 0.0);
    for (const auto& h : j["heads"]) EXPECT_EQ(h["span"].get<int>(), 128);
}

TEST(CliSpans, MoreMassKeepsMoreAndMovesPerplexityLess) {
    const nlohmann::json tight = spans("--mass 0.9")["result"], loose = spans("--mass 0.999")["result"];
    EXPECT_EQ(tight["reference_perplexity"], loose["reference_perplexity"]);
    const double dTight = std::fabs(tight["perplexity"].get<double>() - tight["reference_perplexity"].get<double>());
    const double dLoose = std::fabs(loose["perplexity"].get<double>() - loose["reference_perplexity"].get<double>());
    EXPECT_LT(dLoose, dTight);
    EXPECT_LT(loose["kld"].get<double>(), tight["kld"].get<double>());
    EXPECT_GT(tight["attention_work_saved"].get<double>(), loose["attention_work_saved"].get<double>());
    EXPECT_GT(tight["attention_work_saved"].get<double>(), 0.0);
    ASSERT_EQ(tight["heads"].size(), static_cast<std::size_t>(tight["layers"].get<int>() * tight["heads_per_layer"].get<int>()));
    for (std::size_t i = 0; i < tight["heads"].size(); ++i)
        EXPECT_LE(tight["heads"][i]["span"].get<int>(), loose["heads"][i]["span"].get<int>()) << i;
}

TEST(CliSpans, AStoredAnalysisReopens) {
    const auto project = outputDir("cli_spans_store") / "p.qsproj";
    const std::string flags = "--mass 0.95 --block 16 --project " + q(project.string());
    const nlohmann::json a = spans(flags), b = spans(flags + " --threads 1");
    EXPECT_FALSE(a["reused"].get<bool>());
    EXPECT_TRUE(b["reused"].get<bool>());
    EXPECT_EQ(a["result"], b["result"]);
    for (const auto& h : a["result"]["heads"]) EXPECT_EQ(h["span"].get<int>() % 16, 0);
}

TEST(CliSpans, BadInputIsAClearError) {
    for (const std::string& bad : {std::string("--mass 0"), std::string("--mass 1.5"), std::string("--quantile 0.1"),
                                   std::string("--windows x"), std::string("--sinks -1")}) {
        const CliRun r = runCli("spans " + q(kModel) + " --data " + q(kTokens) + " " + bad + " --json");
        EXPECT_EQ(r.exitCode, 1) << bad;
        EXPECT_TRUE(r.json().contains("error")) << bad << r.out;
    }
}

// --compute bf16: every model of the analysis runs bf16 products; its full-attention reference is
// `eval --compute bf16` on the same windows, and full mass still reproduces it exactly.
TEST(CliSpans, Bf16ProductsMeasureTheBf16Model) {
    const nlohmann::json f32 = spans("--mass 1 --sinks 0")["result"];
    const nlohmann::json bf16 = spans("--mass 1 --sinks 0 --compute bf16")["result"];
    const CliRun eval = runCli("eval " + q(kModel) + " --data " + q(kTokens) + " --windows 4 --compute bf16 --json");
    ASSERT_EQ(eval.exitCode, 0) << eval.out;
    EXPECT_NEAR(bf16["reference_perplexity"].get<double>(), eval.json()["perplexity"].get<double>(), 1e-9);
    EXPECT_NE(bf16["reference_perplexity"], f32["reference_perplexity"]);
    EXPECT_EQ(bf16["perplexity"], bf16["reference_perplexity"]);
}
