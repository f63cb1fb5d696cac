// SPDX-License-Identifier: MIT
// llama-perplexity's protocol and log-probability file, checked against closed forms and its source's
// rules (tools/perplexity/perplexity.cpp): chunking, BOS, second-half scoring, the 16-bit encoding.
#include "data/llama_cpp_chunks.h"
#include "eval/window_scores.h"
#include "export/gguf_tokenizer_metadata.h"
#include "fixture_paths.h"
#include "io/file_util.h"
#include "io/llama_logits_file.h"
#include "tokenizer/tokenizer.h"

#include <cmath>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <numeric>

using namespace qs::core;
namespace fs = std::filesystem;

TEST(LlamaCppChunks, CutsLikeLlamaPerplexity) {
    std::vector<std::int32_t> stream(1000);
    std::iota(stream.begin(), stream.end(), 0);
    EvalOptions opts;
    opts.ctx = 128;
    const LlamaCppChunks c = llamaCppChunks(stream, 7, opts);
    ASSERT_EQ(c.tokens.size(), 7u * 128); // floor(1000 / 128) chunks
    EXPECT_EQ(c.opts.maxWindows, 7);
    EXPECT_EQ(c.opts.scoreFrom, 65); // logits at 64.. score tokens 65..127
    EXPECT_EQ(c.opts.scoredPerWindow(), 63);
    for (int k = 0; k < 7; ++k) {
        EXPECT_EQ(c.tokens[k * 128], 7);            // BOS replaces each chunk's first token
        EXPECT_EQ(c.tokens[k * 128 + 1], k * 128 + 1); // the rest untouched
    }
    opts.maxWindows = 3;
    EXPECT_EQ(llamaCppChunks(stream, std::nullopt, opts).tokens[128], 128); // no BOS: as given
    EXPECT_EQ(llamaCppChunks(stream, std::nullopt, opts).opts.maxWindows, 3);
    opts.ctx = 501;
    EXPECT_THROW(llamaCppChunks(stream, 7, opts), Error); // fewer than 2 x ctx tokens, as llama-perplexity refuses
}

TEST(LlamaCppChunks, ScoresOnlyFromTheFirstScoredPosition) {
    // Uniform logits over 4 tokens: every scored token costs ln 4.
    RowMatrixF logits = RowMatrixF::Zero(8, 4);
    const std::vector<std::int32_t> window{0, 1, 2, 3, 0, 1, 2, 3};
    EXPECT_NEAR(windowNll(logits, window), 7 * std::log(4.0), 1e-12);
    EXPECT_NEAR(windowNll(logits, window, 5), 3 * std::log(4.0), 1e-12);
    EXPECT_EQ(perplexityFromNll(3 * std::log(4.0), 1, 8, 0, 5).tokensScored, 3);
    EXPECT_NEAR(perplexityFromNll(3 * std::log(4.0), 1, 8, 0, 5).perplexity, 4.0, 1e-12);
}

TEST(LlamaLogitsFile, EncodesARowAsLlamaCppDoes) {
    // Logits 0, -1, -30, 2: the top is 2, the floor max - 16 = -14 (the -30 reads as the floor).
    const float logits[4] = {0, -1, -30, 2};
    std::vector<std::uint16_t> row(LlamaLogitsFile{8, 4, 0, {}, {}}.rowStride());
    const double nll = encodeLlamaRow(logits, 4, 0, row.data());
    const double lse = 2 + std::log(std::exp(-2.0) + std::exp(-3.0) + std::exp(-32.0) + 1);
    EXPECT_NEAR(nll, lse - 0, 1e-6);
    for (int i : {0, 1, 3}) EXPECT_NEAR(llamaRowLogProb(row.data(), i), logits[i] - lse, 16.0 / 65535);
    EXPECT_EQ(row[4 + 2], 0); // below the floor
    EXPECT_NEAR(llamaRowLogProb(row.data(), 2), -14 - lse, 1e-5);
    EXPECT_EQ(row[4 + 3], 65535); // the top code
}

TEST(LlamaLogitsFile, WritesAndReadsBack) {
    const fs::path p = qs::test::outputDir("llama_logits") / "base.kld";
    const std::vector<std::int32_t> tokens{1, 2, 3, 0, 3, 2, 1, 0}; // 2 chunks of 4: 1 row each
    {
        LlamaLogitsWriter w(p, 4, 5, tokens);
        const LlamaLogitsFile shape{4, 5, 0, {}, {}};
        EXPECT_EQ(shape.rowsPerChunk(), 1);
        EXPECT_EQ(shape.rowStride(), 10); // 2 * ((5 + 1) / 2) + 4
        for (int c = 0; c < 2; ++c) {
            std::vector<std::uint16_t> row(10);
            const float logits[5] = {0.f + c, 1, 2, 3, 4};
            encodeLlamaRow(logits, 5, 0, row.data());
            w.addChunk(row);
        }
        w.finish();
    }
    EXPECT_EQ(fs::file_size(p), 20u + 8 * 4 + 2 * 10 * 2);
    const LlamaLogitsFile f = readLlamaLogitsFile(p);
    EXPECT_EQ(f.ctx, 4);
    EXPECT_EQ(f.vocab, 5);
    EXPECT_EQ(f.chunks, 2);
    EXPECT_EQ(f.tokens, tokens);
    EXPECT_NEAR(llamaRowLogProb(f.row(1, 0), 4), 4 - std::log(std::exp(1.0) + std::exp(1) + std::exp(2) + std::exp(3) + std::exp(4)), 1e-3);
}

TEST(LlamaLogitsFile, RefusesBrokenFilesByName) {
    const fs::path dir = qs::test::outputDir("llama_logits_bad");
    const auto expectError = [&](const std::string& name, const std::string& bytes, const std::string& words) {
        writeFileAtomically(dir / name, bytes);
        try {
            readLlamaLogitsFile(dir / name);
            ADD_FAILURE() << name << " was accepted";
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(name), std::string::npos) << what;
            EXPECT_NE(what.find(words), std::string::npos) << what;
        }
    };
    expectError("short.kld", "_logits_", "too short");
    expectError("magic.kld", std::string(20, 'x'), "not a llama.cpp");
    std::string header = "_logits_";
    const auto put = [&](std::int32_t v) { header.append(reinterpret_cast<const char*>(&v), 4); };
    put(128), put(32000), put(2000000000); // a huge chunk count in a tiny file: refused, nothing allocated
    expectError("huge.kld", header, "header");
    std::string truncated = "_logits_";
    header = truncated;
    put(4), put(5), put(2);
    expectError("truncated.kld", header + std::string(10, '\0'), "header");
}

TEST(TokenizerBos, FollowsTheConfigThenThePostProcessor) {
    // The fixture says add_bos_token false and names no BOS.
    EXPECT_FALSE(loadTokenizer(qs::test::tinyLlama())->addsBos());
    const fs::path dir = qs::test::outputDir("tokenizer_bos");
    nlohmann::json tok = nlohmann::json::parse(readWholeFile(qs::test::tinyLlama() / "tokenizer.json"));
    tok["post_processor"] = {{"type", "TemplateProcessing"},
                             {"single", {{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
                                         {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}};
    writeFileAtomically(dir / "tokenizer.json", tok.dump());
    writeFileAtomically(dir / "tokenizer_config.json", R"({"bos_token": "<|endoftext|>"})");
    EXPECT_TRUE(loadTokenizer(dir)->addsBos()); // Llama-3 style: the post-processor puts BOS first
    writeFileAtomically(dir / "tokenizer_config.json", R"({"bos_token": "<|endoftext|>", "add_bos_token": false})");
    EXPECT_FALSE(loadTokenizer(dir)->addsBos()); // the config wins
    writeFileAtomically(dir / "tokenizer_config.json", R"({"bos_token": null, "add_bos_token": true})");
    EXPECT_FALSE(loadTokenizer(dir)->addsBos()); // no BOS token: nothing to add

    // The GGUF export says what the tokenizer does, so llama.cpp adds BOS exactly when HF does.
    writeFileAtomically(dir / "tokenizer_config.json", R"({"bos_token": "<|endoftext|>", "add_bos_token": true})");
    bool written = false;
    for (const auto& kv : ggufTokenizerMetadata(dir))
        if (kv.key == "tokenizer.ggml.add_bos_token") written = kv.value.u != 0;
    EXPECT_TRUE(written);
}
