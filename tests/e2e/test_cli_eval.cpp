// SPDX-License-Identifier: MIT
// `quantscope-cli eval` end to end on the fixture (perplexity protocol of fixtures/README.md 2.4).
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <cmath>
#include <gtest/gtest.h>

using namespace qs::test;

namespace {

const std::string kModel = q(tinyLlama().string());
const std::string kTokens = q((tinyLlama() / "ref_test_tokens.npy").string());

} // namespace

TEST(CliEval, Fp32PerplexityOfTheTestTokens) {
    const CliRun r = runCli("eval " + kModel + " --data " + kTokens + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_LT(relErr(j["perplexity"].get<double>(), 8.458817407160915), 1e-4) << j.dump();
    EXPECT_EQ(j["tokens_scored"], 8128);
    EXPECT_EQ(j["windows"], 64);
    EXPECT_EQ(j["ctx"], 128);
    EXPECT_EQ(j["data_tokens"], 8192);
    EXPECT_NEAR(j["mean_nll"].get<double>(), 2.1352093774595056, 1e-5);
    EXPECT_FALSE(j.contains("kld"));
}

TEST(CliEval, Bf16ProductsStayWithinTheReferenceTolerance) {
    // --compute bf16: Linears and head on bf16 operands, for the reference and the quantized model
    // alike; the fixture's perplexities move by less than the reference tolerance.
    const CliRun r = runCli("eval " + kModel + " --data " + kTokens + " --compute bf16 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["compute"], "bf16");
    EXPECT_TRUE(j["bf16_tiles"].is_boolean());
    EXPECT_LT(relErr(j["perplexity"].get<double>(), 8.458817407160915), 1e-4) << j.dump();
    EXPECT_NE(j["perplexity"].get<double>(), runCli("eval " + kModel + " --data " + kTokens + " --json")
                                                  .json()["perplexity"]
                                                  .get<double>());
    const CliRun q = runCli("eval " + kModel + " --data " + kTokens +
                            " --method rtn --format int4 --granularity group --group 32 --asym --compute bf16 --json");
    ASSERT_EQ(q.exitCode, 0) << q.out;
    EXPECT_LT(relErr(q.json()["perplexity"].get<double>(), 8.494180127176628), 1e-4) << q.out;
    EXPECT_LT(relErr(q.json()["reference"]["perplexity"].get<double>(), j["perplexity"].get<double>()), 1e-12);
}

TEST(CliEval, TextIsTokenizedWithTheModelsTokenizer) {
    // The first 64 windows of encode(test.txt) are exactly ref_test_tokens.npy.
    const CliRun r = runCli("eval " + kModel + " --data " + q((fixtures() / "corpus" / "test.txt").string()) +
                            " --ctx 128 --windows 64 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["data_tokens"], 96641);
    EXPECT_EQ(j["tokens_scored"], 8128);
    EXPECT_LT(relErr(j["perplexity"].get<double>(), 8.458817407160915), 1e-4) << j.dump();
}

TEST(CliEval, RtnInt4Group32ReportsReferenceDeltaAndKld) {
    const CliRun r = runCli("eval " + kModel + " --data " + kTokens +
                            " --method rtn --format int4 --granularity group --group 32 --asym --kld --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_LT(relErr(j["perplexity"].get<double>(), 8.494180127176628), 1e-4) << j.dump();
    EXPECT_LT(relErr(j["reference"]["perplexity"].get<double>(), 8.458817407160915), 1e-4);
    EXPECT_NEAR(j["delta_perplexity"].get<double>(), 8.494180127176628 - 8.458817407160915, 1e-3);
    EXPECT_DOUBLE_EQ(j["bits_per_weight"].get<double>(), 4.625);
    EXPECT_EQ(j["recipe"]["format"], "int4");
    const auto& k = j["kld"];
    EXPECT_EQ(k["tokens"], 8128);
    EXPECT_GT(k["mean"].get<double>(), 0.0);
    EXPECT_GE(k["p99"].get<double>(), k["median"].get<double>());
    EXPECT_GT(k["top1_agreement"].get<double>(), 0.8);
    EXPECT_LE(k["top1_agreement"].get<double>(), 1.0);
}

TEST(CliEval, ActivationAndKvQuantizationAreComparedWithFp32) {
    const CliRun r = runCli("eval " + kModel + " --data " + kTokens +
                            " --windows 8 --act-quant int8 --kv-quant int4:group:16:asym --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["tokens_scored"], 8 * 127);
    EXPECT_EQ(j["recipe"]["activation"]["format"], "int8");
    EXPECT_EQ(j["recipe"]["activation"]["granularity"], "token");
    EXPECT_EQ(j["recipe"]["kv_cache"]["group"], 16);
    EXPECT_EQ(j["recipe"]["kv_cache"]["sym"], false);
    EXPECT_FALSE(j.contains("bits_per_weight"));
    EXPECT_GT(j["kld"]["mean"].get<double>(), 0.0);
    EXPECT_NE(j["perplexity"].get<double>(), j["reference"]["perplexity"].get<double>());
}

TEST(CliEval, HumanReadableOutput) {
    const CliRun r = runCli("eval " + kModel + " --data " + kTokens +
                            " --windows 4 --ctx 64 --format int8 "
                            "--granularity channel");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_NE(r.out.find("perplexity"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("fp32"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("top-1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("4 x 64 tokens, 252 scored"), std::string::npos) << r.out;
}

TEST(CliEval, ErrorsAreJsonWithNonZeroExit) {
    for (const std::string& args :
         {"eval " + kModel + " --json",                                   // no --data
          "eval " + kModel + " --data " + kTokens + " --kld --json",      // nothing to compare
          "eval " + kModel + " --data " + kTokens + " --ctx 1 --json",    // ctx too small
          "eval " + kModel + " --data " + kTokens + " --ctx 9000 --json", // no full window
          "eval " + kModel + " --data /nonexistent.npy --json",
          "eval " + kModel + " --data " + kTokens + " --act-quant int9 --json",
          "eval " + kModel + " --data " + kTokens + " --compute fp8 --json",
          "eval " + kModel + " --data " + kTokens + " --compute bf16 --low-memory --json",
          "eval " + kModel + " --data " + kTokens + " --bogus --json"}) {
        const CliRun r = runCli(args);
        EXPECT_EQ(r.exitCode, 1) << args;
        EXPECT_TRUE(r.json().contains("error")) << args << "\n" << r.out;
    }
}
