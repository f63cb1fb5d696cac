// SPDX-License-Identifier: MIT
#include "tokenizer/tokenizer.h"

#include "io/file_util.h"
#include "base/error.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace qs::core {
namespace {

namespace fs = std::filesystem;

// tokenizer_config.json names BOS/EOS as a string, as {"content": ...} or as null (none). A name the
// vocabulary does not have leaves the tokenizer's own choice in place.
// Whether tokenizer.json's post-processor puts BOS first (TemplateProcessing, as Llama-3's does).
bool postProcessorAddsBos(const nlohmann::json& root, const Tokenizer& tok) {
    const auto pp = root.find("post_processor");
    if (pp == root.end() || !pp->is_object() || pp->value("type", "") != "TemplateProcessing" || !tok.bosId())
        return false;
    const auto single = pp->find("single");
    if (single == pp->end() || !single->is_array() || single->empty() || !single->front().is_object()) return false;
    const auto special = single->front().find("SpecialToken");
    if (special == single->front().end() || !special->is_object() || !(*special)["id"].is_string()) return false;
    return tok.tokenId((*special)["id"].get<std::string>()) == tok.bosId();
}

// Returns the config's add_bos_token when it has one.
std::optional<bool> applyTokenizerConfig(const fs::path& configPath, Tokenizer& tok) {
    if (!fs::is_regular_file(configPath)) return std::nullopt;
    nlohmann::json cfg;
    try {
        cfg = nlohmann::json::parse(readWholeFile(configPath));
    } catch (const nlohmann::json::exception& e) {
        throw Error(configPath.string() + ": invalid JSON: " + e.what());
    }
    if (!cfg.is_object()) return std::nullopt;
    const auto special = [&](const char* key, auto setter) {
        if (!cfg.contains(key)) return;
        const nlohmann::json& v = cfg[key];
        if (v.is_null()) {
            (tok.*setter)(std::nullopt);
            return;
        }
        const nlohmann::json* name = &v;
        if (v.is_object() && v.contains("content")) name = &v["content"];
        if (!name->is_string()) return;
        if (auto id = tok.tokenId(name->get<std::string>())) (tok.*setter)(id);
    };
    special("bos_token", &Tokenizer::setBosId);
    special("eos_token", &Tokenizer::setEosId);
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) return cfg["add_bos_token"].get<bool>();
    return std::nullopt;
}

bool looksLikeJson(const fs::path& file) {
    const std::string head = readWholeFile(file).substr(0, 64);
    const auto first = head.find_first_not_of(" \t\r\n");
    return first != std::string::npos && head[first] == '{';
}

} // namespace

std::unique_ptr<Tokenizer> loadTokenizer(const fs::path& modelDir) {
    fs::path file;
    if (fs::is_directory(modelDir)) {
        if (fs::is_regular_file(modelDir / "tokenizer.json"))
            file = modelDir / "tokenizer.json";
        else if (fs::is_regular_file(modelDir / "tokenizer.model"))
            file = modelDir / "tokenizer.model";
        else
            throw Error(modelDir.string() + ": no tokenizer.json or tokenizer.model");
    } else if (fs::is_regular_file(modelDir)) {
        file = modelDir;
    } else {
        throw Error(modelDir.string() + ": no such file or directory");
    }
    if (file.extension() == ".gguf") return loadGgufTokenizer(file); // BOS/EOS come from its metadata
    const bool json = file.extension() == ".json" || (file.extension() != ".model" && looksLikeJson(file));
    nlohmann::json root;
    if (json) {
        try {
            root = nlohmann::json::parse(readWholeFile(file));
        } catch (const nlohmann::json::exception& e) {
            throw Error(file.string() + ": invalid JSON: " + e.what());
        }
    }
    std::unique_ptr<Tokenizer> tok = json ? loadHfTokenizerJson(root, file) : loadSentencePieceModel(file);
    const std::optional<bool> addBos = applyTokenizerConfig(file.parent_path() / "tokenizer_config.json", *tok);
    tok->setAddsBos(addBos ? *addBos : json ? root.is_object() && postProcessorAddsBos(root, *tok) : true);
    return tok;
}

} // namespace qs::core
