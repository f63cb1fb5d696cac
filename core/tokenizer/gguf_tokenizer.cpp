// SPDX-License-Identifier: MIT
// The tokenizer a GGUF file carries in its metadata (llama.cpp's tokenizer.ggml.* keys), mapped onto
// the two tokenizers the engine already has: "gpt2" becomes a byte-level BPE tokenizer.json document,
// "llama" a SentencePiece vocabulary merged by scores.
#include "io/gguf.h"
#include "base/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <set>

namespace qs::core {
namespace {

using json = nlohmann::json;

// GGUF token types (llama.cpp's llama_token_type) = SentencePiece piece types.
constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4;

class GgufVocab {
public:
    explicit GgufVocab(const std::filesystem::path& path) : m_file(GgufFile::open(path)), m_path(path) {}

    [[noreturn]] void fail(const std::string& problem) const { throw Error(m_path.string() + ": " + problem); }

    const GgufValue* find(const std::string& key) const { return m_file.findValue(key); }

    std::string string(const std::string& key) const {
        const GgufValue* v = find(key);
        if (!v) fail("no " + key + " in the metadata (the file carries no tokenizer)");
        if (!v->toString()) fail(key + " is not a string");
        return *v->toString();
    }

    // An array of `elem` values; `required` = the key must exist.
    const std::vector<GgufValue>* array(const std::string& key, GgufValueType elem, bool required) const {
        const GgufValue* v = find(key);
        if (!v) {
            if (required) fail("no " + key + " in the metadata");
            return nullptr;
        }
        if (v->type != GgufValueType::Array || v->elemType != elem) fail(key + " is not an array of the expected type");
        return &v->array;
    }

    std::optional<std::int32_t> tokenId(const std::string& key, std::size_t vocab) const {
        const GgufValue* v = find(key);
        if (!v) return std::nullopt;
        const auto id = v->toInt();
        if (!id || *id < 0 || static_cast<std::size_t>(*id) >= vocab)
            fail(key + " is not a token id below the vocabulary size " + std::to_string(vocab));
        return static_cast<std::int32_t>(*id);
    }

    bool flag(const std::string& key, bool fallback) const {
        const GgufValue* v = find(key);
        if (!v) return fallback;
        if (v->type != GgufValueType::Bool) fail(key + " is not a bool");
        return v->u != 0;
    }

    const std::filesystem::path& path() const { return m_path; }

private:
    GgufFile m_file;
    std::filesystem::path m_path;
};

// tokenizer.ggml.pre names the pre-tokenizer regex (llama.cpp's LLAMA_VOCAB_PRE_TYPE_* spellings).
// "gpt2" is no llama.cpp name, but our exporter wrote it before it wrote "gpt-2": keep reading it.
json byteLevelPreTokenizer(const GgufVocab& g) {
    const GgufValue* v = g.find("tokenizer.ggml.pre");
    const std::string pre = v && v->toString() ? *v->toString() : "default";
    std::optional<pretok::RegexKind> kind;
    if (pre == "default" || pre == "gpt2" || pre == "gpt-2")
        kind = pretok::RegexKind::Gpt2;
    else if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "smaug-bpe")
        kind = pretok::RegexKind::Llama3;
    else if (pre == "qwen2")
        kind = pretok::RegexKind::Qwen2;
    else
        g.fail("tokenizer.ggml.pre '" + pre +
               "' is not supported (known: default, gpt-2, gpt2, llama-bpe, llama3, llama-v3, qwen2)");
    const json split = {{"type", "Split"},
                        {"pattern", {{"Regex", std::string(pretok::regexPattern(*kind))}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
    const json byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
    return {{"type", "Sequence"}, {"pretokenizers", json::array({split, byteLevel})}};
}

std::unique_ptr<Tokenizer> loadByteLevel(const GgufVocab& g, const std::vector<GgufValue>& tokens,
                                         const std::vector<GgufValue>* types) {
    const auto* merges = g.array("tokenizer.ggml.merges", GgufValueType::String, true);
    json vocab = json::object(), added = json::array(), mergeList = json::array();
    std::set<std::string> seen;
    for (std::size_t id = 0; id < tokens.size(); ++id) {
        const std::string& t = tokens[id].str;
        const int type = types ? static_cast<int>((*types)[id].toInt().value_or(kNormal)) : kNormal;
        if (!seen.insert(t).second) continue; // a duplicate spelling can never be produced by encoding
        if (type == kControl || type == kUserDefined)
            added.push_back({{"id", id}, {"content", t}, {"special", type == kControl}, {"normalized", false},
                             {"single_word", false}, {"lstrip", false}, {"rstrip", false}});
        vocab[t] = id;
    }
    for (const GgufValue& m : *merges) mergeList.push_back(m.str);
    const json root = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", mergeList}}},
                       {"added_tokens", added},
                       {"normalizer", nullptr},
                       {"pre_tokenizer", byteLevelPreTokenizer(g)},
                       {"decoder", {{"type", "ByteLevel"}}}};
    return loadHfTokenizerJson(root, g.path());
}

std::unique_ptr<Tokenizer> loadSentencePiece(const GgufVocab& g, const std::vector<GgufValue>& tokens,
                                             const std::vector<GgufValue>* types) {
    const auto* scores = g.array("tokenizer.ggml.scores", GgufValueType::F32, false);
    if (scores && scores->size() != tokens.size()) g.fail("tokenizer.ggml.scores and tokens differ in length");
    const auto unk = g.tokenId("tokenizer.ggml.unknown_token_id", tokens.size());
    std::vector<SentencePieceEntry> pieces(tokens.size());
    SentencePieceOptions options;
    bool hasUnknown = false;
    for (std::size_t id = 0; id < tokens.size(); ++id) {
        pieces[id].text = tokens[id].str;
        pieces[id].score = scores ? static_cast<float>((*scores)[id].f) : 0.0f;
        pieces[id].type = types ? static_cast<int>((*types)[id].toInt().value_or(kNormal)) : kNormal;
        if (unk && static_cast<std::size_t>(*unk) == id) pieces[id].type = kUnknown;
        hasUnknown |= pieces[id].type == kUnknown;
        options.byteFallback |= pieces[id].type == 6;
    }
    if (!hasUnknown) g.fail("the SentencePiece vocabulary has no unknown token (tokenizer.ggml.unknown_token_id)");
    options.addDummyPrefix = g.flag("tokenizer.ggml.add_space_prefix", true);
    options.removeExtraWhitespaces = false; // llama.cpp keeps every space
    return makeSentencePieceTokenizer(g.path(), std::move(pieces), options);
}

} // namespace

std::unique_ptr<Tokenizer> loadGgufTokenizer(const std::filesystem::path& ggufFile) {
    const GgufVocab g(ggufFile);
    const std::string model = g.string("tokenizer.ggml.model");
    const auto& tokens = *g.array("tokenizer.ggml.tokens", GgufValueType::String, true);
    if (tokens.empty()) g.fail("tokenizer.ggml.tokens is empty");
    const auto* types = g.array("tokenizer.ggml.token_type", GgufValueType::I32, false);
    if (types && types->size() != tokens.size()) g.fail("tokenizer.ggml.token_type and tokens differ in length");

    std::unique_ptr<Tokenizer> tok;
    if (model == "gpt2")
        tok = loadByteLevel(g, tokens, types);
    else if (model == "llama")
        tok = loadSentencePiece(g, tokens, types);
    else
        g.fail("tokenizer.ggml.model '" + model + "' is not supported (known: gpt2, llama)");
    tok->setBosId(g.tokenId("tokenizer.ggml.bos_token_id", tokens.size()));
    tok->setEosId(g.tokenId("tokenizer.ggml.eos_token_id", tokens.size()));
    // llama.cpp's default when the key is absent: SentencePiece vocabularies add BOS, BPE ones do not.
    tok->setAddsBos(g.flag("tokenizer.ggml.add_bos_token", model == "llama"));
    return tok;
}

} // namespace qs::core
