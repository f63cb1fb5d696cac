// SPDX-License-Identifier: MIT
// Our GGUF exports checked by the real llama.cpp (node-llama-cpp's prebuilt CPU runtime, pinned in
// tests/llamacpp and installed by scripts/install-deps.sh): llama.cpp loads each file and its
// perplexity, under llama-perplexity's protocol, equals what `eval --scoring llama.cpp` predicts.
// Not closer than 1e-3: llama.cpp rounds activations inside its matmuls (Q8_0 blocks beside
// quantized weights, f16 beside f16 ones) and keeps K/V in f16; our prediction for block-quantized
// files emulates the first with --act-quant int8:group:32:sym.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kText = (fixtures() / "corpus" / "test.txt").string();
const std::string kWindows = "--ctx 128 --windows 8";
const std::string kQ8Activations = "--act-quant int8:group:32:sym"; // llama.cpp's Q8_0 activation blocks

std::filesystem::path llamaDir() { return std::filesystem::path(QS_SOURCE_DIR) / "tests" / "llamacpp"; }

// llama.cpp's figures for a GGUF file (tests/llamacpp/perplexity.mjs).
nlohmann::json llamaCpp(const std::string& gguf, const std::string& extra = "") {
    const auto r = runCommand("node " + q((llamaDir() / "perplexity.mjs").string()) + " " + q(gguf) + " " + q(kText) +
                            " --ctx 128 --chunks 8 " + extra);
    EXPECT_EQ(r.exitCode, 0) << r.out;
    return r.json();
}

class LlamaCpp : public ::testing::Test {
protected:
    // The exports, written once for every test of the suite.
    static void SetUpTestSuite() {
        ASSERT_TRUE(std::filesystem::exists(llamaDir() / "node_modules" / "node-llama-cpp"))
            << "node-llama-cpp is not installed: run scripts/install-deps.sh (npm ci in tests/llamacpp)";
        dir() = outputDir("llamacpp_" + std::to_string(getpid())); // ctest runs each test in its own process
        const std::string rtn = "--method rtn --format int8 --as gguf --out ";
        for (const char* type : {"f16", "q8_0", "q4_0"})
            ASSERT_EQ(runCli(q(kModel) + " " + rtn + q(file(type)) + " --gguf-type " + type, "export").exitCode, 0);
        ASSERT_EQ(runCli(q(kModel) + " --recipe " + q((tinyLlama() / "recipe_mixed.json").string()) +
                             " --as gguf --out " + q(file("mixed")), "export").exitCode, 0);
    }
    static std::filesystem::path& dir() {
        static std::filesystem::path d;
        return d;
    }
    static std::string file(const std::string& type) { return (dir() / ("fixture_" + type + ".gguf")).string(); }
    static CliRun runCli(const std::string& args, const std::string& command) {
        return qs::test::runCli(command + " " + args);
    }
    static nlohmann::json ours(const std::string& gguf, const std::string& extra) {
        const auto r = qs::test::runCli("eval " + q(gguf) + " --data " + q(kText) + " " + kWindows +
                                        " --scoring llama.cpp --json " + extra);
        EXPECT_EQ(r.exitCode, 0) << r.out;
        return r.json();
    }
};

TEST_F(LlamaCpp, PerplexityOfEachExportEqualsOurPrediction) {
    for (const auto& [type, emulation] : std::vector<std::pair<std::string, std::string>>{
             {"f16", ""}, {"q8_0", kQ8Activations}, {"q4_0", kQ8Activations}, {"mixed", kQ8Activations}}) {
        SCOPED_TRACE(type);
        const auto theirs = llamaCpp(file(type));
        const auto mine = ours(file(type), emulation);
        EXPECT_EQ(theirs["tokens_scored"], mine["tokens_scored"]);
        EXPECT_EQ(theirs["chunks"], mine["windows"]);
        EXPECT_LT(relErr(mine["perplexity"], theirs["perplexity"]), 1e-3)
            << "ours " << mine["perplexity"] << ", llama.cpp " << theirs["perplexity"];
    }
}

TEST_F(LlamaCpp, KlDivergenceAgainstLlamaCppsBaseFile) {
    // llama.cpp's distributions of the f16 file, saved in llama-perplexity's log-probability format;
    // and llama.cpp's own KLD of the q4_0 file against the f16 one, from both full distributions.
    const std::string base = (dir() / "base_llamacpp.kld").string();
    const auto f16 = llamaCpp(file("f16"), "--save-logits " + q(base));
    const auto q4 = llamaCpp(file("q4_0"), "--kld-base " + q(file("f16")));

    const auto same = qs::test::runCli("eval " + q(file("f16")) + " --kl-divergence-base " + q(base) + " --kld --json");
    ASSERT_EQ(same.exitCode, 0) << same.out;
    const auto s = same.json()["llama_kld"];
    EXPECT_LT(relErr(s["base_perplexity"], f16["perplexity"]), 1e-5); // the file decodes to llama.cpp's figure
    EXPECT_LT(s["kld"]["mean"].get<double>(), 1e-4);                 // one model: only f16 rounding differs
    EXPECT_GT(s["kld"]["top1_agreement"].get<double>(), 0.99);

    const auto quant = qs::test::runCli("eval " + q(file("q4_0")) + " --kl-divergence-base " + q(base) + " --kld --json " +
                                        kQ8Activations);
    ASSERT_EQ(quant.exitCode, 0) << quant.out;
    const auto k = quant.json()["llama_kld"];
    EXPECT_LT(relErr(k["kld"]["mean"], q4["kld_mean"]), 0.02)
        << "ours " << k["kld"]["mean"] << ", llama.cpp " << q4["kld_mean"];
    EXPECT_LT(relErr(k["perplexity"], q4["perplexity"]), 1e-3);
    EXPECT_EQ(k["tokens_scored"], q4["tokens_scored"]);
}

TEST_F(LlamaCpp, OurBaseFileHasLlamaCppsLayoutAndTokens) {
    // Written by us and by the llama.cpp side from the same text: the same header and tokens byte for
    // byte, and the same size; re-read by us, the unquantized model against it has no divergence.
    const std::string theirs = (dir() / "base_theirs.kld").string(), mine = (dir() / "base_ours.kld").string();
    llamaCpp(file("f16"), "--save-logits " + q(theirs));
    const auto w = qs::test::runCli("eval " + q(file("f16")) + " --data " + q(kText) + " " + kWindows +
                                    " --kl-divergence-base " + q(mine) + " --json");
    ASSERT_EQ(w.exitCode, 0) << w.out;
    const auto read = [](const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string a = read(theirs), b = read(mine);
    ASSERT_EQ(a.size(), b.size());
    const std::size_t headerAndTokens = 20 + 4 * 8 * 128;
    EXPECT_EQ(a.substr(0, headerAndTokens), b.substr(0, headerAndTokens));

    const auto r = qs::test::runCli("eval " + q(file("f16")) + " --kl-divergence-base " + q(mine) + " --kld --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto k = r.json()["llama_kld"];
    EXPECT_LT(k["kld"]["mean"].get<double>(), 1e-5); // the 16-bit log-probabilities' rounding only
    EXPECT_LT(relErr(k["base_perplexity"], w.json()["perplexity"]), 1e-4);
    EXPECT_LT(relErr(k["perplexity"], w.json()["perplexity"]), 1e-8); // llama.cpp's float NLL vs our double
}

TEST_F(LlamaCpp, RefusesWhatItCannotRead) {
    const std::string bogus = (dir() / "bogus.kld").string();
    std::ofstream(bogus) << "not a log-probability file";
    const auto r = qs::test::runCli("eval " + q(file("f16")) + " --kl-divergence-base " + q(bogus) + " --kld --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.json()["error"].get<std::string>().find("bogus.kld"), std::string::npos) << r.out;
    const auto few = qs::test::runCli("eval " + q(file("f16")) + " --data " + q(kText) +
                                      " --ctx 65536 --scoring llama.cpp --json");
    EXPECT_EQ(few.exitCode, 1);
    EXPECT_NE(few.json()["error"].get<std::string>().find("at least"), std::string::npos) << few.out;
}

} // namespace
