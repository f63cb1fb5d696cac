// SPDX-License-Identifier: MIT
// SentencePiece tokenizer.model (a protobuf ModelProto) read without libsentencepiece, whose bundled
// protobuf clashes with the one ONNX needs. The wire format is decoded by hand; encoding follows
// sentencepiece's normalizer, its score-ordered BPE and its Viterbi Unigram, with byte fallback.
#include "io/file_util.h"
#include "base/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <algorithm>
#include <cfloat>
#include <cctype>
#include <cstring>
#include <queue>
#include <unordered_map>

namespace qs::core {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81"; // U+2581 "▁"

enum class PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct Piece {
    std::string text;
    float score = 0.0f;
    PieceType type = PieceType::Normal;
};

// Protobuf wire format over a byte range; every read is bounds-checked and failures name the file,
// the message being read and the byte offset.
class ProtoReader {
public:
    ProtoReader(std::string_view data, std::size_t base, const fs::path& file, std::string what)
        : m_data(data), m_base(base), m_file(file), m_what(std::move(what)) {}

    bool atEnd() const { return m_pos >= m_data.size(); }
    std::size_t offset() const { return m_base + m_pos; }

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (atEnd()) fail("truncated varint");
            const auto b = static_cast<unsigned char>(m_data[m_pos++]);
            v |= std::uint64_t(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        fail("varint longer than 10 bytes");
    }
    // Field number and wire type of the next field.
    std::pair<std::uint32_t, int> tag() {
        const std::uint64_t t = varint();
        if ((t >> 3) == 0 || (t >> 3) > 0x1FFFFFFF) fail("invalid field number");
        return {static_cast<std::uint32_t>(t >> 3), static_cast<int>(t & 7)};
    }
    // A length-delimited field's bytes and their absolute offset.
    std::pair<std::string_view, std::size_t> bytes() {
        const std::uint64_t n = varint();
        if (n > m_data.size() - m_pos) fail("length " + std::to_string(n) + " runs past the end");
        const std::size_t at = offset();
        const std::string_view v = m_data.substr(m_pos, static_cast<std::size_t>(n));
        m_pos += static_cast<std::size_t>(n);
        return {v, at};
    }
    float fixed32() {
        if (m_data.size() - m_pos < 4) fail("truncated fixed32");
        std::uint32_t u = 0;
        for (int i = 0; i < 4; ++i)
            u |= std::uint32_t(static_cast<unsigned char>(m_data[m_pos + i])) << (8 * i);
        m_pos += 4;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    void skip(int wire) {
        switch (wire) {
        case 0:
            varint();
            break;
        case 1:
            if (m_data.size() - m_pos < 8) fail("truncated fixed64");
            m_pos += 8;
            break;
        case 2:
            bytes();
            break;
        case 5:
            fixed32();
            break;
        default:
            fail("unsupported wire type " + std::to_string(wire));
        }
    }
    void expect(std::uint32_t field, int wire, int expected) const {
        if (wire != expected)
            fail("field " + std::to_string(field) + " has wire type " + std::to_string(wire) + ", expected " +
                 std::to_string(expected));
    }
    [[noreturn]] void fail(const std::string& problem) const {
        throw Error(m_file.string() + ": malformed " + m_what + " at byte " + std::to_string(offset()) +
                    ": " + problem);
    }

private:
    std::string_view m_data;
    std::size_t m_base;
    std::size_t m_pos = 0;
    const fs::path& m_file;
    std::string m_what;
};

// sentencepiece's precompiled_charsmap: a Darts-clone double array whose values point into a pool of
// NUL-terminated replacement strings. Only the longest-prefix lookup the normalizer needs.
class CharsMap {
public:
    bool empty() const { return m_units.empty(); }

    void load(std::string_view blob, const fs::path& file) {
        const auto bad = [&](const std::string& p) {
            throw Error(file.string() + ": malformed precompiled_charsmap: " + p);
        };
        if (blob.size() <= 4) bad("too short");
        std::uint32_t trieSize = 0;
        for (int i = 0; i < 4; ++i)
            trieSize |= std::uint32_t(static_cast<unsigned char>(blob[i])) << (8 * i);
        if (trieSize > blob.size() - 4 || trieSize % 4 != 0 || trieSize == 0) bad("bad trie size");
        m_units.resize(trieSize / 4);
        for (std::size_t i = 0; i < m_units.size(); ++i) {
            std::uint32_t u = 0;
            for (int k = 0; k < 4; ++k)
                u |= std::uint32_t(static_cast<unsigned char>(blob[4 + 4 * i + k])) << (8 * k);
            m_units[i] = u;
        }
        m_pool = std::string(blob.substr(4 + trieSize));
    }

    // The replacement of the longest rule matching a prefix of `s` and the bytes it consumes (0: none).
    std::pair<std::string_view, std::size_t> longestPrefix(std::string_view s) const {
        const auto offsetOf = [](std::uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); };
        std::pair<std::string_view, std::size_t> best{{}, 0};
        std::size_t node = offsetOf(m_units[0]);
        for (std::size_t i = 0; i < s.size(); ++i) {
            const auto c = static_cast<unsigned char>(s[i]);
            node ^= c;
            if (node >= m_units.size()) break;
            const std::uint32_t unit = m_units[node];
            if ((unit & ((1u << 31) | 0xFF)) != c) break; // label mismatch
            node ^= offsetOf(unit); // the base of the children: only bounds-checked where it is read
            // A leaf's value is an offset into the pool.
            if (((unit >> 8) & 1) && node < m_units.size()) {
                const std::size_t value = m_units[node] & ((1u << 31) - 1);
                if (value < m_pool.size()) {
                    const std::size_t end = m_pool.find('\0', value);
                    best = {std::string_view(m_pool).substr(
                                value, (end == std::string::npos ? m_pool.size() : end) - value),
                            i + 1};
                }
            }
        }
        return best;
    }

private:
    std::vector<std::uint32_t> m_units;
    std::string m_pool;
};

class SentencePieceTokenizer final : public Tokenizer {
public:
    explicit SentencePieceTokenizer(fs::path file) : m_file(std::move(file)) {}

    void load(std::string_view data);
    /// Builds the tokenizer from pieces and options given directly (GGUF metadata).
    void loadPieces(std::vector<SentencePieceEntry> pieces, const SentencePieceOptions& options);

    std::vector<std::int32_t> encode(std::string_view text) const override;
    std::string decode(std::span<const std::int32_t> ids) const override;
    int vocabSize() const override { return static_cast<int>(m_pieces.size()); }
    std::optional<std::int32_t> tokenId(std::string_view piece) const override {
        const std::int32_t id = pieceToId(piece);
        return id < 0 ? std::nullopt : std::optional(id);
    }
    std::string tokenPiece(std::int32_t id) const override {
        return validId(id) ? m_pieces[static_cast<std::size_t>(id)].text : std::string();
    }
    std::string description() const override {
        return std::string("SentencePiece ") + (m_unigram ? "Unigram" : "BPE") + " (" +
               m_file.filename().string() + "), " + std::to_string(vocabSize()) + " pieces";
    }

private:
    [[noreturn]] void fail(const std::string& problem) const {
        throw Error(m_file.string() + ": " + problem);
    }
    bool validId(std::int32_t id) const { return id >= 0 && id < vocabSize(); }
    PieceType typeOf(std::int32_t id) const { return m_pieces[static_cast<std::size_t>(id)].type; }
    // Normal, user-defined and unused pieces, then control/unknown/byte ones; -1 if none.
    std::int32_t pieceToId(std::string_view piece) const {
        if (auto it = m_normal.find(piece); it != m_normal.end()) return it->second;
        if (auto it = m_reserved.find(piece); it != m_reserved.end()) return it->second;
        return -1;
    }
    /// Validates the pieces and builds the lookup tables (shared by both loaders).
    void finish(int modelType, bool whitespaceSuffix, std::int64_t bosId, std::int64_t eosId);
    std::size_t userDefinedPrefix(std::string_view s) const;
    std::string normalize(std::string_view text) const;
    void encodeBpe(std::string_view normalized,
                   std::vector<std::pair<std::string_view, std::int32_t>>& out) const;
    void encodeUnigram(std::string_view normalized,
                       std::vector<std::pair<std::string_view, std::int32_t>>& out) const;

    fs::path m_file;
    std::vector<Piece> m_pieces;
    bpe::StringMap m_normal, m_reserved;
    bpe::StringMap m_prefixes; // Unigram: every prefix of a normal piece -> its id, or -1 for a mere prefix
    std::vector<std::string> m_userDefined; // longest first
    std::int32_t m_unk = -1;
    std::array<std::int32_t, 256> m_bytePiece{};
    bool m_unigram = false, m_byteFallback = false;
    bool m_addDummyPrefix = true, m_removeExtraWhitespaces = true, m_escapeWhitespaces = true;
    std::string m_unkSurface = " \xE2\x81\x87 ";
    CharsMap m_charsMap;
    float m_minScore = FLT_MAX, m_maxScore = FLT_MIN; // FLT_MIN as sentencepiece has it
};

void SentencePieceTokenizer::load(std::string_view data) {
    int modelType = 1; // UNIGRAM is the proto default
    std::int64_t bosId = 1, eosId = 2;
    bool whitespaceSuffix = false;
    ProtoReader model(data, 0, m_file, "ModelProto");
    while (!model.atEnd()) {
        const auto [field, wire] = model.tag();
        if (field == 1) { // SentencePiece
            model.expect(field, wire, 2);
            const auto [bytes, at] = model.bytes();
            ProtoReader r(bytes, at, m_file, "SentencePiece " + std::to_string(m_pieces.size()));
            Piece p;
            while (!r.atEnd()) {
                const auto [f, w] = r.tag();
                if (f == 1) {
                    r.expect(f, w, 2);
                    p.text = std::string(r.bytes().first);
                } else if (f == 2) {
                    r.expect(f, w, 5);
                    p.score = r.fixed32();
                } else if (f == 3) {
                    r.expect(f, w, 0);
                    const std::uint64_t t = r.varint();
                    if (t < 1 || t > 6) r.fail("unknown piece type " + std::to_string(t));
                    p.type = static_cast<PieceType>(t);
                } else {
                    r.skip(w);
                }
            }
            m_pieces.push_back(std::move(p));
        } else if (field == 2) { // TrainerSpec
            model.expect(field, wire, 2);
            const auto [bytes, at] = model.bytes();
            ProtoReader r(bytes, at, m_file, "TrainerSpec");
            while (!r.atEnd()) {
                const auto [f, w] = r.tag();
                if (f == 3 || f == 24 || f == 35 || (f >= 40 && f <= 43)) {
                    r.expect(f, w, 0);
                    const std::uint64_t v = r.varint();
                    if (f == 3)
                        modelType = static_cast<int>(v);
                    else if (f == 24)
                        whitespaceSuffix = v != 0;
                    else if (f == 35)
                        m_byteFallback = v != 0;
                    else if (f == 41)
                        bosId = static_cast<std::int32_t>(v); // int32: negatives are sign-extended
                    else if (f == 42)
                        eosId = static_cast<std::int32_t>(v);
                } else if (f == 44) {
                    r.expect(f, w, 2);
                    m_unkSurface = std::string(r.bytes().first);
                } else {
                    r.skip(w);
                }
            }
        } else if (field == 3) { // NormalizerSpec
            model.expect(field, wire, 2);
            const auto [bytes, at] = model.bytes();
            ProtoReader r(bytes, at, m_file, "NormalizerSpec");
            while (!r.atEnd()) {
                const auto [f, w] = r.tag();
                if (f == 2) {
                    r.expect(f, w, 2);
                    const std::string_view blob = r.bytes().first;
                    if (!blob.empty()) m_charsMap.load(blob, m_file);
                } else if (f >= 3 && f <= 5) {
                    r.expect(f, w, 0);
                    const bool v = r.varint() != 0;
                    (f == 3 ? m_addDummyPrefix : f == 4 ? m_removeExtraWhitespaces : m_escapeWhitespaces) = v;
                } else {
                    r.skip(w);
                }
            }
        } else {
            model.skip(wire);
        }
    }

    finish(modelType, whitespaceSuffix, bosId, eosId);
}

void SentencePieceTokenizer::loadPieces(std::vector<SentencePieceEntry> pieces, const SentencePieceOptions& o) {
    for (auto& e : pieces) {
        if (e.type < 1 || e.type > 6) fail("unknown piece type " + std::to_string(e.type) + " of '" + e.text + "'");
        m_pieces.push_back({std::move(e.text), e.score, static_cast<PieceType>(e.type)});
    }
    m_byteFallback = o.byteFallback;
    m_addDummyPrefix = o.addDummyPrefix;
    m_removeExtraWhitespaces = o.removeExtraWhitespaces;
    finish(o.unigram ? 1 : 2, false, o.bos.value_or(-1), o.eos.value_or(-1));
}

void SentencePieceTokenizer::finish(int modelType, bool whitespaceSuffix, std::int64_t bosId, std::int64_t eosId) {
    if (m_pieces.empty()) fail("no pieces (not a SentencePiece model?)");
    if (modelType == 1)
        m_unigram = true;
    else if (modelType != 2)
        fail(std::string("model type ") +
             (modelType == 3   ? "WORD"
              : modelType == 4 ? "CHAR"
                               : std::to_string(modelType)) +
             " is not supported (only BPE and Unigram are)");
    if (whitespaceSuffix) fail("treat_whitespace_as_suffix is not supported");

    m_bytePiece.fill(-1);
    for (std::size_t i = 0; i < m_pieces.size(); ++i) {
        const Piece& p = m_pieces[i];
        const auto id = static_cast<std::int32_t>(i);
        if (p.text.empty()) fail("piece " + std::to_string(i) + " is empty");
        const bool normal =
            p.type == PieceType::Normal || p.type == PieceType::UserDefined || p.type == PieceType::Unused;
        if (!(normal ? m_normal : m_reserved).emplace(p.text, id).second)
            fail("piece '" + p.text + "' is defined twice");
        if (p.type == PieceType::UserDefined) m_userDefined.push_back(p.text);
        if (p.type == PieceType::Unknown) {
            if (m_unk >= 0) fail("more than one unknown piece");
            m_unk = id;
        }
        if (p.type == PieceType::Byte) {
            const std::string& t = p.text;
            // Two hex digits exactly: sscanf's %X would also take a sign or a space ("<0x-1>").
            const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
            if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>' || !hex(t[3]) || !hex(t[4]))
                fail("byte piece '" + t + "' is not of the form <0xAB>");
            m_bytePiece[std::stoul(t.substr(3, 2), nullptr, 16)] = id;
        }
        if (p.type == PieceType::Normal) {
            m_minScore = std::min(m_minScore, p.score);
            m_maxScore = std::max(m_maxScore, p.score);
        }
    }
    if (m_unk < 0) fail("no unknown piece (<unk>) defined");
    if (m_byteFallback)
        for (int b = 0; b < 256; ++b)
            if (m_bytePiece[static_cast<std::size_t>(b)] < 0)
                fail("byte_fallback is on but byte piece " + std::to_string(b) + " is missing");
    std::sort(m_userDefined.begin(), m_userDefined.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    if (m_unigram)
        for (const auto& [text, id] : m_normal) {
            for (std::size_t n = 1; n < text.size(); ++n)
                m_prefixes.emplace(text.substr(0, n), -1);
            m_prefixes.insert_or_assign(text, id);
        }
    if (validId(static_cast<std::int32_t>(bosId))) setBosId(static_cast<std::int32_t>(bosId));
    if (validId(static_cast<std::int32_t>(eosId))) setEosId(static_cast<std::int32_t>(eosId));
}

std::size_t SentencePieceTokenizer::userDefinedPrefix(std::string_view s) const {
    for (const std::string& u : m_userDefined)
        if (s.substr(0, u.size()) == u) return u.size();
    return 0;
}

std::string SentencePieceTokenizer::normalize(std::string_view input) const {
    // One normalisation step at the front of `in`: user-defined pieces pass untouched, then the
    // longest charsmap rule, else one UTF-8 character (a malformed byte becomes U+FFFD).
    const auto prefix = [&](std::string_view in) -> std::pair<std::string_view, std::size_t> {
        if (std::size_t n = userDefinedPrefix(in)) return {in.substr(0, n), n};
        if (!m_charsMap.empty()) {
            auto [rep, n] = m_charsMap.longestPrefix(in);
            if (n > 0) return {rep, n};
        }
        const unicode::Utf8Char c = unicode::decodeUtf8(in, 0);
        if (c.cp == unicode::kInvalid && c.length == 1) return {"\xEF\xBF\xBD", 1};
        return {in.substr(0, static_cast<std::size_t>(c.length)), static_cast<std::size_t>(c.length)};
    };
    if (m_removeExtraWhitespaces)
        while (!input.empty()) {
            const auto [rep, n] = prefix(input);
            if (rep != " ") break;
            input.remove_prefix(n);
        }
    std::string out;
    if (input.empty()) return out;
    out.reserve(input.size() * 3 / 2 + 3);
    const std::string_view space = m_escapeWhitespaces ? kSpaceSymbol : std::string_view(" ");
    if (m_addDummyPrefix) out += space;
    bool prevSpace = m_removeExtraWhitespaces;
    while (!input.empty()) {
        auto [rep, n] = prefix(input);
        input.remove_prefix(n);
        if (prevSpace)
            while (!rep.empty() && rep.front() == ' ')
                rep.remove_prefix(1);
        if (!rep.empty()) {
            for (char c : rep) {
                if (c == ' ')
                    out += space;
                else
                    out += c;
            }
            prevSpace = rep.back() == ' ';
        }
        if (!m_removeExtraWhitespaces) prevSpace = false;
    }
    if (m_removeExtraWhitespaces)
        while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
            out.resize(out.size() - space.size());
    return out;
}

void SentencePieceTokenizer::encodeBpe(std::string_view text,
                                       std::vector<std::pair<std::string_view, std::int32_t>>& out) const {
    struct Symbol {
        std::size_t begin, size;
        std::int32_t prev, next;
        bool freeze;
    };
    struct Pair {
        float score;
        std::int32_t left, right;
        std::size_t size;
    };
    // Highest score first; among equal scores the leftmost pair.
    const auto lower = [](const Pair& a, const Pair& b) {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Pair, std::vector<Pair>, decltype(lower)> agenda(lower);
    std::vector<Symbol> symbols;
    // Merges that produced an unused piece, to be undone afterwards (sentencepiece "resegment").
    std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> revMerge;

    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t n = userDefinedPrefix(text.substr(pos));
        const bool freeze = n > 0;
        if (!freeze) n = static_cast<std::size_t>(unicode::decodeUtf8(text, pos).length);
        const auto idx = static_cast<std::int32_t>(symbols.size());
        symbols.push_back({pos, n, idx - 1, pos + n < text.size() ? idx + 1 : -1, freeze});
        pos += n;
    }
    const auto maybeAdd = [&](std::int32_t l, std::int32_t r) {
        if (l < 0 || r < 0) return;
        const Symbol& a = symbols[static_cast<std::size_t>(l)];
        const Symbol& b = symbols[static_cast<std::size_t>(r)];
        if (a.freeze || b.freeze) return;
        const std::string_view piece = text.substr(a.begin, a.size + b.size);
        const auto it = m_normal.find(piece);
        if (it == m_normal.end()) return;
        agenda.push({m_pieces[static_cast<std::size_t>(it->second)].score, l, r, piece.size()});
        if (typeOf(it->second) == PieceType::Unused)
            revMerge[piece] = {text.substr(a.begin, a.size), text.substr(b.begin, b.size)};
    };
    for (std::size_t i = 1; i < symbols.size(); ++i)
        maybeAdd(static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i));

    while (!agenda.empty()) {
        const Pair top = agenda.top();
        agenda.pop();
        Symbol& left = symbols[static_cast<std::size_t>(top.left)];
        Symbol& right = symbols[static_cast<std::size_t>(top.right)];
        // Stale: one side was merged away or grew since the pair was queued.
        if (left.size == 0 || right.size == 0 || left.size + right.size != top.size || left.next != top.right)
            continue;
        left.size += right.size;
        left.next = right.next;
        if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.left;
        right.size = 0;
        maybeAdd(left.prev, top.left);
        maybeAdd(top.left, left.next);
    }

    const auto resegment = [&](auto&& self, std::string_view w) -> void {
        const std::int32_t id = pieceToId(w);
        if (id >= 0 && typeOf(id) == PieceType::Unused)
            if (auto it = revMerge.find(w); it != revMerge.end()) {
                self(self, it->second.first);
                self(self, it->second.second);
                return;
            }
        out.emplace_back(w, id < 0 ? m_unk : id);
    };
    for (std::int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next)
        resegment(resegment, text.substr(symbols[static_cast<std::size_t>(i)].begin,
                                         symbols[static_cast<std::size_t>(i)].size));
}

void SentencePieceTokenizer::encodeUnigram(
    std::string_view text, std::vector<std::pair<std::string_view, std::int32_t>>& out) const {
    // sentencepiece's EncodeOptimized: the best path ending at every byte position.
    struct Best {
        std::int32_t id = -1;
        float score = 0.0f;
        std::int64_t start = -1;
    };
    constexpr float kUnkPenalty = 10.0f;
    const float unkScore = m_minScore - kUnkPenalty;
    std::vector<Best> best(text.size() + 1);
    for (std::size_t start = 0; start < text.size();) {
        const float base = best[start].score;
        const auto charLen = static_cast<std::size_t>(unicode::decodeUtf8(text, start).length);
        bool hasSingle = false;
        for (std::size_t end = start + 1; end <= text.size(); ++end) {
            const auto it = m_prefixes.find(text.substr(start, end - start));
            if (it == m_prefixes.end()) break;
            const std::int32_t id = it->second;
            if (id < 0 || typeOf(id) == PieceType::Unused) continue;
            const auto length = static_cast<float>(end - start);
            // User-defined pieces get a bonus that makes them always win.
            const float score = typeOf(id) == PieceType::UserDefined
                                    ? length * m_maxScore - 0.1f
                                    : m_pieces[static_cast<std::size_t>(id)].score;
            if (best[end].start < 0 || base + score > best[end].score)
                best[end] = {id, base + score, std::int64_t(start)};
            if (end - start == charLen) hasSingle = true;
        }
        if (!hasSingle) {
            Best& b = best[start + charLen];
            if (b.start < 0 || base + unkScore > b.score) b = {m_unk, base + unkScore, std::int64_t(start)};
        }
        start += charLen;
    }
    const std::size_t first = out.size();
    for (std::size_t end = text.size(); end > 0;) {
        const Best& b = best[end];
        const auto start = static_cast<std::size_t>(b.start);
        out.emplace_back(text.substr(start, end - start), b.id);
        end = start;
    }
    std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
}

std::vector<std::int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
    const std::string normalized = normalize(text);
    std::vector<std::pair<std::string_view, std::int32_t>> pieces;
    if (m_unigram)
        encodeUnigram(normalized, pieces);
    else
        encodeBpe(normalized, pieces);
    std::vector<std::int32_t> ids;
    ids.reserve(pieces.size());
    bool prevUnk = false;
    for (const auto& [piece, id] : pieces) {
        const bool unk = id == m_unk;
        if (unk && m_byteFallback) {
            for (char c : piece)
                ids.push_back(m_bytePiece[static_cast<unsigned char>(c)]);
        } else if (!(unk && prevUnk)) { // a run of unknown pieces becomes one <unk>
            ids.push_back(id);
        }
        prevUnk = unk;
    }
    return ids;
}

std::string SentencePieceTokenizer::decode(std::span<const std::int32_t> ids) const {
    std::string text;
    bool atStart = true; // the first piece's "▁" is the dummy prefix the normalizer added
    for (std::int32_t id : ids) {
        if (!validId(id)) continue;
        const Piece& p = m_pieces[static_cast<std::size_t>(id)];
        switch (p.type) {
        case PieceType::Control:
            continue;
        case PieceType::Unknown:
            text += m_unkSurface;
            break;
        case PieceType::Byte:
            text += static_cast<char>(std::stoi(p.text.substr(3, 2), nullptr, 16));
            break;
        default: {
            std::string_view piece = p.text;
            if (atStart && m_addDummyPrefix && piece.substr(0, kSpaceSymbol.size()) == kSpaceSymbol)
                piece.remove_prefix(kSpaceSymbol.size());
            for (std::size_t hit; (hit = piece.find(kSpaceSymbol)) != std::string_view::npos;) {
                text.append(piece.substr(0, hit));
                text += ' ';
                piece.remove_prefix(hit + kSpaceSymbol.size());
            }
            text.append(piece);
            break;
        }
        }
        atStart = false;
    }
    return text;
}

} // namespace

std::unique_ptr<Tokenizer> makeSentencePieceTokenizer(const fs::path& origin, std::vector<SentencePieceEntry> pieces,
                                                      const SentencePieceOptions& options) {
    auto tok = std::make_unique<SentencePieceTokenizer>(origin);
    tok->loadPieces(std::move(pieces), options);
    return tok;
}

std::unique_ptr<Tokenizer> loadSentencePieceModel(const fs::path& file) {
    const std::string data = readWholeFile(file);
    auto tok = std::make_unique<SentencePieceTokenizer>(file);
    tok->load(data);
    return tok;
}

} // namespace qs::core
