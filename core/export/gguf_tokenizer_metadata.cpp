// SPDX-License-Identifier: MIT
#include "export/gguf_tokenizer_metadata.h"

#include "io/file_util.h"
#include "base/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <map>

namespace qs::core {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

GgufValue arrayOf(GgufValueType elem, std::vector<GgufValue> values) {
    GgufValue v;
    v.type = GgufValueType::Array;
    v.elemType = elem;
    v.array = std::move(values);
    return v;
}

std::string mergeText(const json& m) {
    if (m.is_string()) return m.get<std::string>();
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        return m[0].get<std::string>() + " " + m[1].get<std::string>();
    throw Error("a merge is neither \"a b\" nor [\"a\", \"b\"]");
}

// llama.cpp's tokenizer.ggml.pre name for a regex. These must be spellings llama.cpp's
// src/llama-vocab.cpp accepts: it refuses a GGUF whose name it does not know ("gpt2", which we
// wrote before, is one of those; its GPT-2 spelling is "gpt-2").
const char* llamaCppPreName(pretok::RegexKind kind) {
    switch (kind) {
    case pretok::RegexKind::Gpt2: return "gpt-2";
    case pretok::RegexKind::Llama3: return "llama-bpe";
    case pretok::RegexKind::Qwen2: return "qwen2";
    }
    throw Error("unknown pre-tokenizer regex kind");
}

// The byte-level pre-tokenizer's regex, as llama.cpp names it. An unknown regex is an error rather
// than "default": llama.cpp would load the file but split text differently from the model's tokenizer.
std::string preTokenizerName(const json& pre) {
    if (pre.is_null()) return "default";
    // ByteLevel with use_regex (its default) splits by the GPT-2 regex itself.
    if (pre.value("type", "") == "ByteLevel" && pre.value("use_regex", true))
        return llamaCppPreName(pretok::RegexKind::Gpt2);
    if (pre.value("type", "") == "Sequence")
        for (const json& p : pre.value("pretokenizers", json::array()))
            if (p.value("type", "") == "Split" && p.contains("pattern") && p["pattern"].contains("Regex"))
                if (const auto kind = pretok::recognizeRegex(p["pattern"]["Regex"].get<std::string>()))
                    return llamaCppPreName(*kind);
    throw Error("its pre-tokenizer has no llama.cpp name (known: ByteLevel, the GPT-2/Llama-3/Qwen2 regexes)");
}

bool isSentencePieceStyle(const json& root) {
    const auto typeOf = [](const json& j) { return j.is_object() ? j.value("type", "") : std::string(); };
    if (typeOf(root.value("pre_tokenizer", json())) == "Metaspace") return true;
    return typeOf(root.value("decoder", json())) == "Sequence" || typeOf(root.value("normalizer", json())) == "Sequence";
}

} // namespace

std::vector<GgufKv> ggufTokenizerMetadata(const fs::path& modelDir) {
    const fs::path file = modelDir / "tokenizer.json";
    if (!fs::is_regular_file(file)) return {};
    try {
        const json root = json::parse(readWholeFile(file));
        const json& model = root.at("model");
        if (model.value("type", "") != "BPE") throw Error("only BPE tokenizers map to GGUF");
        const auto tok = loadTokenizer(modelDir); // also validates the file and reads tokenizer_config.json
        const bool sentencePiece = isSentencePieceStyle(root);

        std::map<std::int32_t, int> types; // added tokens: 3 control (special), 4 user-defined
        for (const json& a : root.value("added_tokens", json::array()))
            types[a.at("id").get<std::int32_t>()] = a.value("special", false) ? 3 : 4;
        std::map<std::string, double> scores; // SentencePiece BPE merges by score: earlier merge = higher
        const json& merges = model.at("merges");
        std::vector<GgufValue> mergeValues;
        for (std::size_t rank = 0; rank < merges.size(); ++rank) {
            std::string m = mergeText(merges[rank]);
            const auto space = m.find(' ');
            if (space == std::string::npos) throw Error("merge '" + m + "' has no space");
            scores.emplace(m.substr(0, space) + m.substr(space + 1), -static_cast<double>(rank));
            mergeValues.push_back(GgufValue::ofString(std::move(m)));
        }
        const std::string unk = model.value("unk_token", json()).is_string() ? model["unk_token"].get<std::string>() : "";

        std::vector<GgufValue> tokens, tokenTypes, tokenScores;
        std::optional<std::int32_t> unkId;
        for (std::int32_t id = 0; id < tok->vocabSize(); ++id) {
            std::string piece = tok->tokenPiece(id);
            if (piece.empty()) piece = "[PAD" + std::to_string(id) + "]"; // GGUF ids must be dense
            int type = types.count(id) ? types[id] : 1;
            if (!unk.empty() && piece == unk) type = 2, unkId = id;
            if (sentencePiece && piece.size() == 6 && piece.starts_with("<0x") && piece.back() == '>') type = 6;
            const auto s = scores.find(piece);
            tokenScores.push_back(GgufValue::ofF32(static_cast<float>(s != scores.end() ? s->second : -1e6 - id)));
            tokenTypes.push_back(GgufValue::ofI32(type));
            tokens.push_back(GgufValue::ofString(std::move(piece)));
        }
        std::vector<GgufKv> kvs{{"tokenizer.ggml.model", GgufValue::ofString(sentencePiece ? "llama" : "gpt2")},
                                {"tokenizer.ggml.tokens", arrayOf(GgufValueType::String, std::move(tokens))},
                                {"tokenizer.ggml.token_type", arrayOf(GgufValueType::I32, std::move(tokenTypes))}};
        if (sentencePiece) {
            kvs.push_back({"tokenizer.ggml.scores", arrayOf(GgufValueType::F32, std::move(tokenScores))});
        } else {
            kvs.push_back({"tokenizer.ggml.pre", GgufValue::ofString(preTokenizerName(root.value("pre_tokenizer", json())))});
            kvs.push_back({"tokenizer.ggml.merges", arrayOf(GgufValueType::String, std::move(mergeValues))});
        }
        if (tok->bosId()) kvs.push_back({"tokenizer.ggml.bos_token_id", GgufValue::ofU32(static_cast<std::uint32_t>(*tok->bosId()))});
        if (tok->eosId()) kvs.push_back({"tokenizer.ggml.eos_token_id", GgufValue::ofU32(static_cast<std::uint32_t>(*tok->eosId()))});
        if (unkId) kvs.push_back({"tokenizer.ggml.unknown_token_id", GgufValue::ofU32(static_cast<std::uint32_t>(*unkId))});
        kvs.push_back({"tokenizer.ggml.add_bos_token", GgufValue::ofBool(tok->addsBos())});
        return kvs;
    } catch (const json::exception& e) {
        throw Error(file.string() + ": cannot describe it as GGUF tokenizer metadata: " + e.what());
    } catch (const Error& e) {
        const std::string what = e.what();
        throw Error(what.starts_with(file.string()) ? what : file.string() + ": cannot describe it as GGUF tokenizer metadata: " + what);
    }
}

} // namespace qs::core
