// SPDX-License-Identifier: MIT
// Hugging Face tokenizer.json with a BPE model: the byte-level family (GPT-2, Llama-3, Qwen2) and the
// SentencePiece-style family (Llama-2, Mistral: Metaspace or Prepend/Replace, byte fallback). Each
// component of the file is read into a small step description; anything else is refused by name.
#include "io/file_util.h"
#include "base/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace qs::core {
namespace {

using bpe::StringMap;
using nlohmann::json;

constexpr std::int32_t kMaxId = 1 << 24; // far above any real vocabulary; bounds what a file can allocate

struct AddedToken {
    std::string content;
    std::int32_t id;
    bool lstrip, rstrip, singleWord;
};

struct NormalizerStep {
    enum Kind { Nfc, Prepend, Replace, Strip } kind;
    std::string text;    // Prepend: prefix; Replace: pattern
    std::string content; // Replace: replacement
    bool left = false, right = false;
};

enum class PrependScheme { Always, First, Never };

struct PreTokenizerStep {
    enum Kind { Regex, Literal, Metaspace, Digits, ByteLevel } kind;
    pretok::RegexKind regex = pretok::RegexKind::Gpt2;
    std::string literal; // Literal: the pattern; Metaspace: the replacement
    pretok::Behavior behavior = pretok::Behavior::Isolated;
    bool invert = false;
    PrependScheme scheme = PrependScheme::Always;
    bool flag = false; // Metaspace: split; Digits: individual; ByteLevel: use_regex
    bool addPrefixSpace = false;
};

struct DecoderStep {
    enum Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace } kind;
    std::string pattern, content; // Replace; Strip/Metaspace: content = the character
    int start = 0, stop = 0;
    bool stripFirst = false; // Metaspace: drop the prefix of the first token
};

// A part of the text on its way through the pipeline; `atStart` tells whether it begins at offset 0 of
// the input (Metaspace's prepend_scheme "first").
struct Piece {
    std::string text;
    bool atStart;
};

void replaceAll(std::string& s, std::string_view from, std::string_view to) {
    if (from.empty()) return;
    std::string out;
    out.reserve(s.size());
    std::size_t pos = 0;
    for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out += to;
    }
    out.append(s, pos);
    s = std::move(out);
}

// The byte of a "<0xAB>" token, or -1.
int byteTokenValue(std::string_view t) {
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
    int v = 0;
    for (char c : t.substr(3, 2)) {
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

std::string byteTokenName(int b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    return buf;
}

// Start of the UTF-8 character that ends at byte `end` (> 0) of `s`.
std::size_t previousCharStart(std::string_view s, std::size_t end) {
    std::size_t p = end - 1;
    while (p > 0 && end - p < 4 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80)
        --p;
    return p;
}

bool isWordChar(char32_t c) {
    return c == '_' || unicode::isLetter(c) || unicode::isNumber(c);
}

class HfTokenizer final : public Tokenizer {
public:
    explicit HfTokenizer(std::filesystem::path file) : m_file(std::move(file)) {}

    void load(const json& root);

    std::vector<std::int32_t> encode(std::string_view text) const override;
    std::string decode(std::span<const std::int32_t> ids) const override;
    int vocabSize() const override { return static_cast<int>(m_pieces.size()); }
    std::optional<std::int32_t> tokenId(std::string_view piece) const override {
        for (const AddedToken& t : m_added)
            if (t.content == piece) return t.id;
        auto it = m_vocab.find(piece);
        return it == m_vocab.end() ? std::nullopt : std::optional(it->second);
    }
    std::string tokenPiece(std::int32_t id) const override {
        return (id >= 0 && id < vocabSize() && m_hasPiece[static_cast<std::size_t>(id)])
                   ? m_pieces[static_cast<std::size_t>(id)]
                   : std::string();
    }
    std::string description() const override {
        return std::string(m_byteLevel ? "byte-level BPE" : "SentencePiece-style BPE") + " (" +
               m_file.filename().string() + "), " + std::to_string(vocabSize()) + " tokens";
    }

private:
    [[noreturn]] void fail(const std::string& problem) const {
        throw Error(m_file.string() + ": " + problem);
    }
    const json& member(const json& obj, const char* key, const std::string& where) const;
    std::string stringField(const json& obj, const char* key, const std::string& where) const;

    void loadAddedTokens(const json& list);
    void loadNormalizer(const json& n);
    void loadPreTokenizer(const json& p);
    void loadDecoder(const json& d);
    void loadModel(const json& m);
    void setPiece(std::int32_t id, const std::string& piece);

    std::string normalize(std::string text) const;
    void preTokenize(std::vector<Piece>& pieces) const;
    void encodeWord(std::string_view word, std::vector<std::int32_t>& out) const;
    void pushUnknown(std::string_view ch, std::vector<std::int32_t>& symbols, bool& lastWasUnk) const;

    std::filesystem::path m_file;
    std::vector<AddedToken> m_added;
    std::array<std::vector<std::size_t>, 256> m_addedByFirstByte; // indices, longest content first
    std::vector<NormalizerStep> m_normalizer;
    std::vector<PreTokenizerStep> m_preTokenizer;
    std::vector<DecoderStep> m_decoder;
    bool m_hasDecoder = false;

    StringMap m_vocab;
    std::vector<std::string> m_pieces; // id -> spelling, model vocabulary and added tokens
    std::vector<char> m_hasPiece;
    bpe::MergeTable m_merges;
    bool m_byteLevel = false;
    std::array<std::int32_t, 256> m_byteSymbol{};   // byte-level: id of each byte's character, or -1
    std::array<std::int32_t, 256> m_fallbackByte{}; // id of "<0xAB>", or -1
    std::optional<std::int32_t> m_unk;
    bool m_byteFallback = false, m_fuseUnk = false, m_ignoreMerges = false;
};

const json& HfTokenizer::member(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object() || !obj.contains(key)) fail(where + " has no \"" + key + "\"");
    return obj[key];
}

std::string HfTokenizer::stringField(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_string()) fail(where + " \"" + key + "\" is not a string");
    return v.get<std::string>();
}

void HfTokenizer::load(const json& root) {
    if (!root.is_object()) fail("not a tokenizer.json (top level is not an object)");
    if (!root.contains("model") || !root["model"].is_object()) fail("no \"model\" object");
    loadModel(root["model"]);
    if (root.contains("added_tokens") && !root["added_tokens"].is_null())
        loadAddedTokens(root["added_tokens"]);
    if (root.contains("normalizer")) loadNormalizer(root["normalizer"]);
    if (root.contains("pre_tokenizer")) loadPreTokenizer(root["pre_tokenizer"]);
    m_byteLevel = std::any_of(m_preTokenizer.begin(), m_preTokenizer.end(), [](const PreTokenizerStep& s) {
        return s.kind == PreTokenizerStep::ByteLevel;
    });
    if (root.contains("decoder") && !root["decoder"].is_null()) {
        m_hasDecoder = true;
        loadDecoder(root["decoder"]);
    }
    // Byte-level models look each input byte up by its GPT-2 character.
    m_byteSymbol.fill(-1);
    for (int b = 0; b < 256; ++b) {
        std::string ch;
        unicode::appendUtf8(ch, pretok::byteToUnicode()[static_cast<std::size_t>(b)]);
        if (auto it = m_vocab.find(ch); it != m_vocab.end())
            m_byteSymbol[static_cast<std::size_t>(b)] = it->second;
    }
    // BOS: the special token a TemplateProcessing post-processor puts first (tokenizer_config.json,
    // read by loadTokenizer, may override it).
    const auto post = root.find("post_processor");
    if (post == root.end() || !post->is_object() || post->value("type", "") != "TemplateProcessing") return;
    const auto single = post->find("single");
    if (single == post->end() || !single->is_array() || single->empty() || !(*single)[0].is_object()) return;
    const auto special = (*single)[0].find("SpecialToken");
    if (special != (*single)[0].end() && special->is_object() && special->contains("id") &&
        (*special)["id"].is_string())
        setBosId(tokenId((*special)["id"].get<std::string>()));
}

void HfTokenizer::setPiece(std::int32_t id, const std::string& piece) {
    const auto i = static_cast<std::size_t>(id);
    if (i >= m_pieces.size()) {
        m_pieces.resize(i + 1);
        m_hasPiece.resize(i + 1, 0);
    }
    if (!m_hasPiece[i]) { // the first spelling of an id wins
        m_pieces[i] = piece;
        m_hasPiece[i] = 1;
    }
}

void HfTokenizer::loadModel(const json& m) {
    std::string type = m.value("type", "");
    if (type.empty()) // files of old tokenizers versions carry no tag
        type = m.contains("merges") ? "BPE" : (m.contains("vocab") && m["vocab"].is_array() ? "Unigram" : "");
    if (type != "BPE")
        fail("model type '" + (type.empty() ? std::string("unknown") : type) +
             "' is not supported (only BPE models are)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (m.contains(key) && m[key].is_string() && !m[key].get<std::string>().empty())
            fail(std::string("BPE \"") + key + "\" is not supported");
    // "dropout" is a training-time regulariser: encoding here is always deterministic.

    const json& vocab = member(m, "vocab", "model");
    if (!vocab.is_object()) fail("model \"vocab\" is not an object of token -> id");
    m_vocab.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        if (!it.value().is_number_integer()) fail("vocab entry '" + it.key() + "' has no integer id");
        const auto id = it.value().get<std::int64_t>();
        if (id < 0 || id >= kMaxId)
            fail("vocab entry '" + it.key() + "' has id " + std::to_string(id) + " out of range");
        m_vocab.emplace(it.key(), static_cast<std::int32_t>(id));
        setPiece(static_cast<std::int32_t>(id), it.key());
    }

    const json& merges = member(m, "merges", "model");
    if (!merges.is_array()) fail("model \"merges\" is not a list");
    const auto lookup = [&](const std::string& tok, std::size_t rank, const std::string& merge) {
        auto it = m_vocab.find(tok);
        if (it == m_vocab.end())
            fail("merge " + std::to_string(rank) + " ('" + merge + "') uses '" + tok +
                 "', which is not in the vocabulary");
        return it->second;
    };
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
        const json& e = merges[rank];
        std::string a, b;
        if (e.is_string()) { // "a b"
            const std::string s = e.get<std::string>();
            const std::size_t sp = s.find(' ');
            if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                fail("merge " + std::to_string(rank) + " ('" + s +
                     "') is not two tokens separated by one space");
            a = s.substr(0, sp);
            b = s.substr(sp + 1);
        } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) { // ["a", "b"]
            a = e[0].get<std::string>();
            b = e[1].get<std::string>();
        } else {
            fail("merge " + std::to_string(rank) + " is neither \"a b\" nor [\"a\", \"b\"]");
        }
        const std::string shown = a + " " + b;
        const std::int32_t left = lookup(a, rank, shown), right = lookup(b, rank, shown);
        const std::int32_t merged = lookup(a + b, rank, shown);
        m_merges.add(left, right, static_cast<std::int32_t>(rank), merged);
    }

    m_byteFallback = m.value("byte_fallback", false);
    m_fuseUnk = m.value("fuse_unk", false);
    m_ignoreMerges = m.value("ignore_merges", false);
    if (m.contains("unk_token") && m["unk_token"].is_string()) {
        const std::string unk = m["unk_token"].get<std::string>();
        auto it = m_vocab.find(unk);
        if (it == m_vocab.end()) fail("unk_token '" + unk + "' is not in the vocabulary");
        m_unk = it->second;
    }
    m_fallbackByte.fill(-1);
    for (int b = 0; b < 256; ++b)
        if (auto it = m_vocab.find(byteTokenName(b)); it != m_vocab.end())
            m_fallbackByte[static_cast<std::size_t>(b)] = it->second;
}

void HfTokenizer::loadAddedTokens(const json& list) {
    if (!list.is_array()) fail("\"added_tokens\" is not a list");
    for (const json& t : list) {
        const std::string content = stringField(t, "content", "added token");
        const json& idv = member(t, "id", "added token '" + content + "'");
        if (!idv.is_number_integer() || idv.get<std::int64_t>() < 0 || idv.get<std::int64_t>() >= kMaxId)
            fail("added token '" + content + "' has no valid id");
        if (content.empty())
            fail("added token with id " + std::to_string(idv.get<std::int64_t>()) + " is empty");
        AddedToken a{content, static_cast<std::int32_t>(idv.get<std::int64_t>()), t.value("lstrip", false),
                     t.value("rstrip", false), t.value("single_word", false)};
        setPiece(a.id, content);
        m_added.push_back(std::move(a));
    }
    for (std::size_t i = 0; i < m_added.size(); ++i)
        m_addedByFirstByte[static_cast<unsigned char>(m_added[i].content[0])].push_back(i);
    for (auto& v : m_addedByFirstByte)
        std::stable_sort(v.begin(), v.end(), [&](std::size_t x, std::size_t y) {
            return m_added[x].content.size() > m_added[y].content.size();
        });
}

void HfTokenizer::loadNormalizer(const json& n) {
    if (n.is_null()) return;
    const std::string type = stringField(n, "type", "normalizer");
    if (type == "Sequence") {
        const json& list = member(n, "normalizers", "normalizer Sequence");
        if (!list.is_array()) fail("normalizer Sequence \"normalizers\" is not a list");
        for (const json& s : list)
            loadNormalizer(s);
    } else if (type == "NFC") {
        m_normalizer.push_back({NormalizerStep::Nfc, {}, {}});
    } else if (type == "Prepend") {
        m_normalizer.push_back(
            {NormalizerStep::Prepend, stringField(n, "prepend", "Prepend normalizer"), {}});
    } else if (type == "Replace") {
        const json& pat = member(n, "pattern", "Replace normalizer");
        if (!pat.is_object() || !pat.contains("String") || !pat["String"].is_string())
            fail("normalizer Replace with a regex pattern is not supported (only a String pattern)");
        m_normalizer.push_back({NormalizerStep::Replace, pat["String"].get<std::string>(),
                                stringField(n, "content", "Replace normalizer")});
    } else if (type == "Strip") {
        NormalizerStep s{NormalizerStep::Strip, {}, {}};
        s.left = n.value("strip_left", false);
        s.right = n.value("strip_right", false);
        m_normalizer.push_back(s);
    } else {
        fail("normalizer '" + type + "' is not supported");
    }
}

void HfTokenizer::loadPreTokenizer(const json& p) {
    if (p.is_null()) return;
    const std::string type = stringField(p, "type", "pre_tokenizer");
    if (!m_preTokenizer.empty() && m_preTokenizer.back().kind == PreTokenizerStep::ByteLevel)
        fail("pre_tokenizer '" + type + "' after ByteLevel is not supported");
    PreTokenizerStep s{PreTokenizerStep::Regex};
    if (type == "Sequence") {
        const json& list = member(p, "pretokenizers", "pre_tokenizer Sequence");
        if (!list.is_array()) fail("pre_tokenizer Sequence \"pretokenizers\" is not a list");
        for (const json& item : list)
            loadPreTokenizer(item);
        return;
    } else if (type == "ByteLevel") {
        s.kind = PreTokenizerStep::ByteLevel;
        s.addPrefixSpace = p.value("add_prefix_space", false);
        s.flag = p.value("use_regex", true);
    } else if (type == "Split") {
        const json& pat = member(p, "pattern", "Split pre_tokenizer");
        if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
            const std::string re = pat["Regex"].get<std::string>();
            const auto kind = pretok::recognizeRegex(re);
            if (!kind)
                fail("Split pre_tokenizer regex '" + re +
                     "' is not supported (known: the GPT-2, Llama-3 and Qwen2 patterns)");
            s.regex = *kind;
        } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
            s.kind = PreTokenizerStep::Literal;
            s.literal = pat["String"].get<std::string>();
        } else {
            fail("Split pre_tokenizer pattern is neither {\"Regex\": ...} nor {\"String\": ...}");
        }
        const std::string behavior = p.value("behavior", "Isolated");
        const auto b = pretok::parseBehavior(behavior);
        if (!b) fail("Split pre_tokenizer behavior '" + behavior + "' is unknown");
        s.behavior = *b;
        s.invert = p.value("invert", false);
    } else if (type == "Metaspace") {
        s.kind = PreTokenizerStep::Metaspace;
        s.literal = p.value("replacement", "\xE2\x96\x81");
        if (unicode::decodeUtf8(s.literal, 0).length != static_cast<int>(s.literal.size()))
            fail("Metaspace replacement '" + s.literal + "' is not one character");
        const std::string scheme = p.contains("prepend_scheme") && p["prepend_scheme"].is_string()
                                       ? p["prepend_scheme"].get<std::string>()
                                       : (p.value("add_prefix_space", true) ? "always" : "never");
        if (scheme == "always")
            s.scheme = PrependScheme::Always;
        else if (scheme == "first")
            s.scheme = PrependScheme::First;
        else if (scheme == "never")
            s.scheme = PrependScheme::Never;
        else
            fail("Metaspace prepend_scheme '" + scheme + "' is unknown");
        s.flag = p.value("split", true);
    } else if (type == "Digits") {
        s.kind = PreTokenizerStep::Digits;
        s.flag = p.value("individual_digits", false);
    } else {
        fail("pre_tokenizer '" + type + "' is not supported");
    }
    m_preTokenizer.push_back(std::move(s));
}

void HfTokenizer::loadDecoder(const json& d) {
    const std::string type = stringField(d, "type", "decoder");
    if (type == "Sequence") {
        const json& list = member(d, "decoders", "decoder Sequence");
        if (!list.is_array()) fail("decoder Sequence \"decoders\" is not a list");
        for (const json& s : list)
            loadDecoder(s);
    } else if (type == "ByteLevel") {
        m_decoder.push_back({DecoderStep::ByteLevel});
    } else if (type == "Replace") {
        const json& pat = member(d, "pattern", "Replace decoder");
        if (!pat.is_object() || !pat.contains("String") || !pat["String"].is_string())
            fail("decoder Replace with a regex pattern is not supported (only a String pattern)");
        m_decoder.push_back({DecoderStep::Replace, pat["String"].get<std::string>(),
                             stringField(d, "content", "Replace decoder")});
    } else if (type == "ByteFallback") {
        m_decoder.push_back({DecoderStep::ByteFallback});
    } else if (type == "Fuse") {
        m_decoder.push_back({DecoderStep::Fuse});
    } else if (type == "Strip") {
        DecoderStep s{DecoderStep::Strip, {}, stringField(d, "content", "Strip decoder")};
        if (unicode::decodeUtf8(s.content, 0).length != static_cast<int>(s.content.size()))
            fail("Strip decoder content '" + s.content + "' is not one character");
        s.start = d.value("start", 0);
        s.stop = d.value("stop", 0);
        m_decoder.push_back(s);
    } else if (type == "Metaspace") {
        DecoderStep s{DecoderStep::Metaspace, {}, d.value("replacement", "\xE2\x96\x81")};
        const std::string scheme = d.contains("prepend_scheme") && d["prepend_scheme"].is_string()
                                       ? d["prepend_scheme"].get<std::string>()
                                       : (d.value("add_prefix_space", true) ? "always" : "never");
        s.stripFirst = scheme != "never";
        m_decoder.push_back(s);
    } else {
        fail("decoder '" + type + "' is not supported");
    }
}

std::string HfTokenizer::normalize(std::string text) const {
    for (const NormalizerStep& s : m_normalizer) {
        switch (s.kind) {
        case NormalizerStep::Nfc:
            text = unicode::nfc(text);
            break;
        case NormalizerStep::Prepend:
            if (!text.empty()) text.insert(0, s.text);
            break;
        case NormalizerStep::Replace:
            replaceAll(text, s.text, s.content);
            break;
        case NormalizerStep::Strip: {
            std::size_t b = 0, e = text.size();
            while (s.left && b < e) {
                const auto c = unicode::decodeUtf8(text, b);
                if (!unicode::isWhitespace(c.cp)) break;
                b += static_cast<std::size_t>(c.length);
            }
            while (s.right && e > b) {
                const std::size_t p = previousCharStart(text, e);
                if (!unicode::isWhitespace(unicode::decodeUtf8(text, p).cp)) break;
                e = p;
            }
            text = text.substr(b, e - b);
            break;
        }
        }
    }
    return text;
}

void HfTokenizer::preTokenize(std::vector<Piece>& pieces) const {
    for (const PreTokenizerStep& s : m_preTokenizer) {
        std::vector<Piece> next;
        next.reserve(pieces.size());
        for (Piece& piece : pieces) {
            std::string& t = piece.text;
            std::vector<pretok::Mark> marks;
            pretok::Behavior behavior = s.behavior;
            bool invert = s.invert;
            switch (s.kind) {
            case PreTokenizerStep::Regex:
                marks = pretok::regexMatches(s.regex, t);
                break;
            case PreTokenizerStep::Literal:
                marks = pretok::literalMatches(s.literal, t);
                break;
            case PreTokenizerStep::Digits:
                marks = pretok::charMatches(t, unicode::isNumber);
                behavior = s.flag ? pretok::Behavior::Isolated : pretok::Behavior::Contiguous;
                invert = false;
                break;
            case PreTokenizerStep::ByteLevel:
                if (s.addPrefixSpace && !t.empty() && t[0] != ' ') t.insert(0, " ");
                if (!s.flag) {
                    next.push_back(std::move(piece));
                    continue;
                }
                marks = pretok::regexMatches(pretok::RegexKind::Gpt2, t);
                behavior = pretok::Behavior::Isolated;
                invert = false;
                break;
            case PreTokenizerStep::Metaspace: {
                replaceAll(t, " ", s.literal);
                const bool prepend =
                    s.scheme == PrependScheme::Always || (s.scheme == PrependScheme::First && piece.atStart);
                if (prepend && t.compare(0, s.literal.size(), s.literal) != 0) t.insert(0, s.literal);
                if (!s.flag) {
                    next.push_back(std::move(piece));
                    continue;
                }
                marks = pretok::literalMatches(s.literal, t);
                behavior = pretok::Behavior::MergedWithNext;
                invert = false;
                break;
            }
            }
            for (const auto& [b, e] : pretok::applyBehavior(std::move(marks), behavior, invert))
                next.push_back({t.substr(b, e - b), piece.atStart && b == 0});
        }
        pieces = std::move(next);
    }
}

void HfTokenizer::pushUnknown(std::string_view ch, std::vector<std::int32_t>& symbols,
                              bool& lastWasUnk) const {
    if (m_byteFallback) {
        bool all = true;
        for (char c : ch)
            all = all && m_fallbackByte[static_cast<unsigned char>(c)] >= 0;
        if (all) {
            for (char c : ch)
                symbols.push_back(m_fallbackByte[static_cast<unsigned char>(c)]);
            lastWasUnk = false;
            return;
        }
    }
    if (!m_unk) return; // tokenizers drops characters it has no token for when there is no unk token
    if (!(m_fuseUnk && lastWasUnk)) symbols.push_back(*m_unk);
    lastWasUnk = true;
}

void HfTokenizer::encodeWord(std::string_view word, std::vector<std::int32_t>& out) const {
    std::vector<std::int32_t> symbols;
    symbols.reserve(word.size());
    bool lastWasUnk = false;
    if (m_byteLevel) {
        std::string mapped;
        for (char c : word)
            unicode::appendUtf8(mapped, pretok::byteToUnicode()[static_cast<unsigned char>(c)]);
        if (m_ignoreMerges)
            if (auto it = m_vocab.find(mapped); it != m_vocab.end()) {
                out.push_back(it->second);
                return;
            }
        for (std::size_t i = 0, pos = 0; i < word.size(); ++i) {
            const std::int32_t id = m_byteSymbol[static_cast<unsigned char>(word[i])];
            const auto len = static_cast<std::size_t>(unicode::decodeUtf8(mapped, pos).length);
            if (id >= 0) {
                symbols.push_back(id);
                lastWasUnk = false;
            } else {
                pushUnknown(std::string_view(mapped).substr(pos, len), symbols, lastWasUnk);
            }
            pos += len;
        }
    } else {
        if (m_ignoreMerges)
            if (auto it = m_vocab.find(word); it != m_vocab.end()) {
                out.push_back(it->second);
                return;
            }
        for (std::size_t pos = 0; pos < word.size();) {
            const auto len = static_cast<std::size_t>(unicode::decodeUtf8(word, pos).length);
            const std::string_view ch = word.substr(pos, len);
            if (auto it = m_vocab.find(ch); it != m_vocab.end()) {
                symbols.push_back(it->second);
                lastWasUnk = false;
            } else {
                pushUnknown(ch, symbols, lastWasUnk);
            }
            pos += len;
        }
    }
    m_merges.mergeAll(symbols);
    out.insert(out.end(), symbols.begin(), symbols.end());
}

std::vector<std::int32_t> HfTokenizer::encode(std::string_view text) const {
    std::vector<std::int32_t> ids;
    ids.reserve(text.size() / 3 + 1);
    // Pre-tokens repeat a lot in real text: remember their ids for this call.
    std::unordered_map<std::string, std::vector<std::int32_t>, bpe::StringHash, std::equal_to<>> cache;

    const auto encodeSegment = [&](std::size_t begin, std::size_t end) {
        if (begin >= end) return;
        std::vector<Piece> pieces{{normalize(std::string(text.substr(begin, end - begin))), begin == 0}};
        preTokenize(pieces);
        for (const Piece& p : pieces) {
            if (p.text.empty()) continue;
            if (p.text.size() > 256) { // long runs are rare and would bloat the cache
                encodeWord(p.text, ids);
                continue;
            }
            auto it = cache.find(p.text);
            if (it == cache.end()) {
                std::vector<std::int32_t> word;
                encodeWord(p.text, word);
                it = cache.emplace(p.text, std::move(word)).first;
            }
            ids.insert(ids.end(), it->second.begin(), it->second.end());
        }
    };

    // Added tokens are found in the raw text first (leftmost, then longest) and never split.
    std::size_t segmentStart = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        const auto& candidates = m_addedByFirstByte[static_cast<unsigned char>(text[pos])];
        const AddedToken* hit = nullptr;
        for (std::size_t idx : candidates) {
            const AddedToken& t = m_added[idx];
            if (text.compare(pos, t.content.size(), t.content) != 0) continue;
            if (t.singleWord) {
                const std::size_t end = pos + t.content.size();
                const bool wordBefore =
                    pos > 0 && isWordChar(unicode::decodeUtf8(text, previousCharStart(text, pos)).cp);
                const bool wordAfter = end < text.size() && isWordChar(unicode::decodeUtf8(text, end).cp);
                if (wordBefore || wordAfter) continue;
            }
            hit = &t;
            break;
        }
        if (!hit) {
            ++pos;
            continue;
        }
        std::size_t begin = pos, end = pos + hit->content.size();
        if (hit->lstrip)
            while (begin > segmentStart) {
                const std::size_t p = previousCharStart(text, begin);
                if (!unicode::isWhitespace(unicode::decodeUtf8(text, p).cp)) break;
                begin = p;
            }
        if (hit->rstrip)
            while (end < text.size()) {
                const auto c = unicode::decodeUtf8(text, end);
                if (!unicode::isWhitespace(c.cp)) break;
                end += static_cast<std::size_t>(c.length);
            }
        encodeSegment(segmentStart, begin);
        ids.push_back(hit->id);
        segmentStart = pos = end;
    }
    encodeSegment(segmentStart, text.size());
    return ids;
}

std::string HfTokenizer::decode(std::span<const std::int32_t> ids) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (std::int32_t id : ids)
        if (id >= 0 && id < vocabSize() && m_hasPiece[static_cast<std::size_t>(id)])
            tokens.push_back(m_pieces[static_cast<std::size_t>(id)]);

    for (const DecoderStep& s : m_decoder) {
        switch (s.kind) {
        case DecoderStep::ByteLevel:
            // A token whose characters all stand for bytes becomes those bytes; any other (an added
            // token such as "<|endoftext|>" with unmapped characters) stays as it is.
            for (std::string& t : tokens) {
                std::string bytes;
                bool mapped = true;
                for (std::size_t pos = 0; pos < t.size() && mapped;) {
                    const auto c = unicode::decodeUtf8(t, pos);
                    const int b = pretok::unicodeToByte(c.cp);
                    mapped = b >= 0;
                    bytes += static_cast<char>(b);
                    pos += static_cast<std::size_t>(c.length);
                }
                if (mapped) t = std::move(bytes);
            }
            break;
        case DecoderStep::Replace:
            for (std::string& t : tokens)
                replaceAll(t, s.pattern, s.content);
            break;
        case DecoderStep::ByteFallback: {
            std::vector<std::string> out;
            out.reserve(tokens.size());
            bool inBytes = false;
            for (std::string& t : tokens) {
                const int b = byteTokenValue(t);
                if (b < 0) {
                    out.push_back(std::move(t));
                    inBytes = false;
                } else {
                    if (!inBytes) out.emplace_back();
                    out.back() += static_cast<char>(b);
                    inBytes = true;
                }
            }
            tokens = std::move(out);
            break;
        }
        case DecoderStep::Fuse: {
            std::string all;
            for (const std::string& t : tokens)
                all += t;
            tokens.assign(1, std::move(all));
            break;
        }
        case DecoderStep::Strip:
            for (std::string& t : tokens) {
                std::size_t b = 0, e = t.size();
                for (int i = 0; i < s.start && t.compare(b, s.content.size(), s.content) == 0; ++i)
                    b += s.content.size();
                for (int i = 0; i < s.stop && e >= b + s.content.size() &&
                                t.compare(e - s.content.size(), s.content.size(), s.content) == 0;
                     ++i)
                    e -= s.content.size();
                t = t.substr(b, e - b);
            }
            break;
        case DecoderStep::Metaspace:
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                // tokenizers drops every replacement character of the first token; only the one the
                // encoder prepended is dropped here, so no text is lost.
                if (i == 0 && s.stripFirst && tokens[0].compare(0, s.content.size(), s.content) == 0)
                    tokens[0].erase(0, s.content.size());
                replaceAll(tokens[i], s.content, " ");
            }
            break;
        }
    }
    std::string text;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0 && !m_hasDecoder) text += ' '; // tokenizers joins undecoded tokens with spaces
        text += tokens[i];
    }
    return text;
}

} // namespace

std::unique_ptr<Tokenizer> loadHfTokenizerJson(const std::filesystem::path& file) {
    const std::string bytes = readWholeFile(file);
    json root;
    try {
        root = json::parse(bytes);
    } catch (const json::exception& e) {
        throw Error(file.string() + ": invalid JSON: " + e.what());
    }
    return loadHfTokenizerJson(root, file);
}

std::unique_ptr<Tokenizer> loadHfTokenizerJson(const json& root, const std::filesystem::path& origin) {
    auto tok = std::make_unique<HfTokenizer>(origin);
    try {
        tok->load(root);
    } catch (const json::exception& e) { // a field of an unexpected type deep inside
        throw Error(origin.string() + ": unexpected content: " + e.what());
    }
    return tok;
}

} // namespace qs::core
