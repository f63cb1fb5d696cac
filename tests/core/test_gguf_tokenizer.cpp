// SPDX-License-Identifier: MIT
// Tokenizers stored in GGUF metadata: the fixture's byte-level BPE exported with the model and read back
// must encode the reference strings exactly; a SentencePiece vocabulary given as GGUF entries must
// tokenize like the same vocabulary read from a tokenizer.model; malformed metadata gives clear errors.
#include "eval/perplexity.h"
#include "data/token_data.h"
#include "export/gguf_tokenizer_metadata.h"
#include "export/gguf_writer.h"
#include "fixture_paths.h"
#include "io/gguf.h"
#include "model/model.h"
#include "base/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

using namespace qs::core;
namespace fs = std::filesystem;
using Ids = std::vector<std::int32_t>;

namespace {

nlohmann::json readJson(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
}

GgufValue arrayOf(GgufValueType elem, std::vector<GgufValue> values) {
    GgufValue v;
    v.type = GgufValueType::Array;
    v.elemType = elem;
    v.array = std::move(values);
    return v;
}

// A llama GGUF of SentencePiece entries: "▁" pieces merged by score, as llama.cpp's SPM vocabulary.
fs::path writeSpmGguf(const fs::path& dir, bool withUnknown) {
    const std::string meta = "\xE2\x96\x81";
    const std::vector<std::tuple<std::string, float, int>> pieces = {
        {"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}, {"a", -5, 1},  {"b", -5, 1},        {"c", -5, 1},
        {meta, -5, 1},   {"ab", -1, 1}, {"bc", -0.5f, 1}, {meta + "a", -2, 1}, {"abc", -3, 1}};
    std::vector<GgufValue> tokens, scores, types;
    for (const auto& [t, s, ty] : pieces) {
        tokens.push_back(GgufValue::ofString(t));
        scores.push_back(GgufValue::ofF32(s));
        types.push_back(GgufValue::ofI32(withUnknown || ty != 2 ? ty : 1));
    }
    const fs::path p = dir / (withUnknown ? "spm.gguf" : "spm_nounk.gguf");
    writeGguf(p,
              {{"tokenizer.ggml.model", GgufValue::ofString("llama")},
               {"tokenizer.ggml.tokens", arrayOf(GgufValueType::String, tokens)},
               {"tokenizer.ggml.scores", arrayOf(GgufValueType::F32, scores)},
               {"tokenizer.ggml.token_type", arrayOf(GgufValueType::I32, types)},
               {"tokenizer.ggml.bos_token_id", GgufValue::ofU32(1)},
               {"tokenizer.ggml.eos_token_id", GgufValue::ofU32(2)}},
              {});
    return p;
}

// tokenizer.ggml.pre values llama.cpp accepts, copied from the tokenizer_pre if-chain of
// llama_vocab::impl::load in llama.cpp's src/llama-vocab.cpp (it refuses any other name with
// "unknown pre-tokenizer type"; note "gpt2" is not among them, "gpt-2" is).
const std::set<std::string> kLlamaCppPreNames = {
    "default",   "llama3",     "llama-v3",  "llama-bpe", "deepseek-llm", "falcon",       "mpt",
    "starcoder", "gpt-2",      "phi-2",     "jina-es",   "refact",       "command-r",    "qwen2",
    "stablelm2", "olmo",       "dbrx",      "smaug-bpe", "poro-chat",    "chatglm-bpe",  "viking",
    "jais",      "tekken",     "smollm",    "codeshell", "bloom",        "gpt3-finnish", "exaone",
    "chameleon", "minerva-7b", "megrez",    "gpt-4o",    "superbpe",     "trillion",     "bailingmoe",
    "llama4",    "pixtral",    "seed-coder"};

// The tokenizer.ggml.pre value ggufTokenizerMetadata() gives a model directory.
std::string exportedPreName(const fs::path& modelDir) {
    for (const GgufKv& kv : ggufTokenizerMetadata(modelDir))
        if (kv.key == "tokenizer.ggml.pre") return *kv.value.toString();
    ADD_FAILURE() << "no tokenizer.ggml.pre for " << modelDir;
    return {};
}

// A copy of the fixture's tokenizer with another pre_tokenizer in tokenizer.json.
fs::path fixtureWithPreTokenizer(const fs::path& dir, const nlohmann::json& pre) {
    fs::copy_file(qs::test::tinyLlama() / "tokenizer_config.json", dir / "tokenizer_config.json");
    nlohmann::json root = readJson(qs::test::tinyLlama() / "tokenizer.json");
    root["pre_tokenizer"] = pre;
    std::ofstream(dir / "tokenizer.json") << root.dump();
    return dir;
}

} // namespace

TEST(GgufTokenizer, PreTokenizerNameIsOneLlamaCppAccepts) {
    // The fixture's pre_tokenizer is ByteLevel with use_regex: GPT-2's regex, llama.cpp's "gpt-2".
    const std::string fixtureName = exportedPreName(qs::test::tinyLlama());
    EXPECT_EQ(fixtureName, "gpt-2");
    EXPECT_TRUE(kLlamaCppPreNames.count(fixtureName)) << fixtureName;

    // A Split by each known regex followed by a regex-less ByteLevel (how Llama-3 and Qwen2 ship it).
    const std::vector<std::pair<pretok::RegexKind, std::string>> kinds = {
        {pretok::RegexKind::Gpt2, "gpt-2"},
        {pretok::RegexKind::Llama3, "llama-bpe"},
        {pretok::RegexKind::Qwen2, "qwen2"}};
    for (const auto& [kind, expected] : kinds) {
        const nlohmann::json split = {{"type", "Split"},
                                      {"pattern", {{"Regex", std::string(pretok::regexPattern(kind))}}},
                                      {"behavior", "Isolated"},
                                      {"invert", false}};
        const nlohmann::json byteLevel = {
            {"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
        const fs::path dir =
            fixtureWithPreTokenizer(qs::test::outputDir("gguf_pre_" + expected),
                                    {{"type", "Sequence"}, {"pretokenizers", {split, byteLevel}}});
        const std::string name = exportedPreName(dir);
        EXPECT_EQ(name, expected);
        EXPECT_TRUE(kLlamaCppPreNames.count(name)) << name;
    }
}

TEST(GgufTokenizer, ReadsTheOldGpt2PreTokenizerName) {
    // GGUFs exported before the switch to "gpt-2" say "gpt2": they must still load and tokenize the same.
    const fs::path dir = qs::test::outputDir("gguf_tokenizer_old_pre");
    std::vector<GgufKv> kvs = ggufTokenizerMetadata(qs::test::tinyLlama());
    for (GgufKv& kv : kvs)
        if (kv.key == "tokenizer.ggml.pre") kv.value = GgufValue::ofString("gpt2");
    writeGguf(dir / "old.gguf", kvs, {});
    const auto tok = loadTokenizer(dir / "old.gguf");
    const auto ref = readJson(qs::test::tinyLlama() / "tokenizer_reference.json");
    for (const auto& c : ref["cases"])
        EXPECT_EQ(tok->encode(c["text"].get<std::string>()), c["ids"].get<Ids>()) << c["text"];
}

TEST(GgufTokenizer, ExportedFixtureTokenizerEncodesReferenceStrings) {
    const fs::path dir = qs::test::outputDir("gguf_tokenizer");
    const fs::path out = dir / "tiny.gguf";
    writeGgufModel(*openModel(qs::test::tinyLlama()), out, {GgufType::F16, {}});

    const GgufFile file = GgufFile::open(out);
    ASSERT_NE(file.findValue("tokenizer.ggml.model"), nullptr);
    EXPECT_EQ(*file.findValue("tokenizer.ggml.model")->toString(), "gpt2");
    EXPECT_EQ(*file.findValue("tokenizer.ggml.pre")->toString(), "gpt-2"); // ByteLevel = the GPT-2 regex
    EXPECT_EQ(file.findValue("tokenizer.ggml.tokens")->array.size(), 512u);
    EXPECT_EQ(file.findValue("tokenizer.ggml.merges")->array.size(), 255u); // ids 256..510 are merges
    EXPECT_EQ(file.findValue("tokenizer.ggml.token_type")->array[511].toInt(), 3); // <|endoftext|>: control

    const auto tok = loadTokenizer(out);
    EXPECT_EQ(tok->vocabSize(), 512);
    EXPECT_EQ(tok->eosId(), 511);
    EXPECT_FALSE(tok->bosId().has_value());
    const auto ref = readJson(qs::test::tinyLlama() / "tokenizer_reference.json");
    ASSERT_EQ(ref["cases"].size(), 22u);
    for (const auto& c : ref["cases"]) {
        const std::string text = c["text"].get<std::string>();
        EXPECT_EQ(tok->encode(text), c["ids"].get<Ids>()) << "text: " << text;
        EXPECT_EQ(tok->decode(c["ids"].get<Ids>()), text);
    }
}

TEST(GgufTokenizer, TextEvaluationOfAGgufUsesItsOwnTokenizer) {
    const fs::path dir = qs::test::outputDir("gguf_tokenizer_eval");
    const fs::path out = dir / "tiny.gguf";
    writeGgufModel(*openModel(qs::test::tinyLlama()), out, {GgufType::F32, {}});
    const auto model = openModel(out);
    std::string source;
    const Ids ids = readTokenData(qs::test::fixtures() / "corpus" / "test.txt", model->path(), source);
    // The fixture README: test.txt is 96,641 tokens, the first 8192 are the perplexity windows.
    EXPECT_EQ(ids.size(), 96641u);
    std::string unused;
    const Ids windows = readTokenData(qs::test::tinyLlama() / "ref_test_tokens.npy", model->path(), unused);
    EXPECT_TRUE(std::equal(windows.begin(), windows.end(), ids.begin()));
}

TEST(GgufTokenizer, SentencePieceEntriesTokenizeLikeTheModelProto) {
    const fs::path dir = qs::test::outputDir("gguf_tokenizer_spm");
    const auto tok = loadTokenizer(writeSpmGguf(dir, true));
    EXPECT_NE(tok->description().find("SentencePiece BPE"), std::string::npos);
    EXPECT_EQ(tok->bosId(), 1);
    EXPECT_EQ(tok->eosId(), 2);
    // "▁abc": "bc" (score -0.5) merges first, then "▁a" (-2): the same ids the tokenizer.model test expects.
    EXPECT_EQ(tok->encode("abc"), (Ids{9, 8}));
    EXPECT_EQ(tok->decode(Ids{9, 8}), "abc");
    // llama.cpp keeps every space (no remove_extra_whitespaces): "▁▁ab" -> ▁ ▁a b? "ab" (-1) beats "▁a" (-2).
    EXPECT_EQ(tok->encode(" ab"), (Ids{6, 6, 7}));
}

TEST(GgufTokenizer, MalformedMetadataGivesClearErrors) {
    const fs::path dir = qs::test::outputDir("gguf_tokenizer_bad");
    const auto expectError = [](const fs::path& p, const std::string& part) {
        try {
            loadTokenizer(p);
            ADD_FAILURE() << "no error for " << p;
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(p.filename().string()), std::string::npos) << what;
            EXPECT_NE(what.find(part), std::string::npos) << what;
        }
    };
    writeGguf(dir / "none.gguf", {{"general.architecture", GgufValue::ofString("llama")}}, {});
    expectError(dir / "none.gguf", "tokenizer.ggml.model");
    writeGguf(dir / "bert.gguf",
              {{"tokenizer.ggml.model", GgufValue::ofString("bert")},
               {"tokenizer.ggml.tokens", GgufValue::ofStrings({"a"})}},
              {});
    expectError(dir / "bert.gguf", "'bert' is not supported");
    writeGguf(dir / "nomerges.gguf",
              {{"tokenizer.ggml.model", GgufValue::ofString("gpt2")},
               {"tokenizer.ggml.tokens", GgufValue::ofStrings({"a", "b"})}},
              {});
    expectError(dir / "nomerges.gguf", "tokenizer.ggml.merges");
    writeGguf(dir / "badpre.gguf",
              {{"tokenizer.ggml.model", GgufValue::ofString("gpt2")},
               {"tokenizer.ggml.pre", GgufValue::ofString("falcon")},
               {"tokenizer.ggml.tokens", GgufValue::ofStrings({"a", "b"})},
               {"tokenizer.ggml.merges", GgufValue::ofStrings({})}},
              {});
    expectError(dir / "badpre.gguf", "'falcon'");
    writeGguf(dir / "badbos.gguf",
              {{"tokenizer.ggml.model", GgufValue::ofString("gpt2")},
               {"tokenizer.ggml.tokens", GgufValue::ofStrings({"a", "b"})},
               {"tokenizer.ggml.merges", GgufValue::ofStrings({})},
               {"tokenizer.ggml.bos_token_id", GgufValue::ofU32(7)}},
              {});
    expectError(dir / "badbos.gguf", "bos_token_id");
    expectError(writeSpmGguf(dir, false), "unknown token");
}
