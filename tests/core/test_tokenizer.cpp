// SPDX-License-Identifier: MIT
// Tokenizers: the fixture's byte-level BPE against its reference encodings, hand-made SentencePiece-style
// tokenizer.json files, hand-built SentencePiece tokenizer.model files, and malformed inputs.
#include "fixture_paths.h"
#include "base/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace qs::core;
namespace fs = std::filesystem;
using Ids = std::vector<std::int32_t>;

namespace {

// ---- small helpers ----------------------------------------------------------------------------------

std::string readFile(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void writeFile(const fs::path& p, const std::string& bytes) {
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(f.good());
}

fs::path testDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return qs::test::outputDir(std::string("tokenizer_") + info->test_suite_name() + "_" + info->name());
}

// Loading must throw Error whose message names the file and contains every keyword.
void expectLoadError(const fs::path& p, std::initializer_list<const char*> keywords) {
    try {
        loadTokenizer(p);
        FAIL() << "no error for " << p;
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(p.filename().string()), std::string::npos) << msg;
        for (const char* k : keywords)
            EXPECT_NE(msg.find(k), std::string::npos) << "'" << k << "' not in: " << msg;
    }
}

// FIPS 180-4 SHA-256, enough to compare the reference digests of token id streams.
std::string sha256Hex(const void* data, std::size_t size) {
    static constexpr std::array<std::uint32_t, 64> k = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::string msg(static_cast<const char*>(data), size);
    msg += '\x80';
    while (msg.size() % 64 != 56)
        msg += '\0';
    for (int i = 7; i >= 0; --i)
        msg += static_cast<char>((std::uint64_t(size) * 8) >> (8 * i));
    const auto rotr = [](std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
    for (std::size_t chunk = 0; chunk < msg.size(); chunk += 64) {
        std::array<std::uint32_t, 64> w{};
        for (int i = 0; i < 16; ++i)
            for (int b = 0; b < 4; ++b)
                w[i] = (w[i] << 8) | static_cast<unsigned char>(msg[chunk + 4 * i + b]);
        for (int i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        auto [a, b, c, d, e, f, g, hh] = h;
        for (int i = 0; i < 64; ++i) {
            const std::uint32_t t1 =
                hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
            const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        const std::array<std::uint32_t, 8> add = {a, b, c, d, e, f, g, hh};
        for (int i = 0; i < 8; ++i)
            h[i] += add[i];
    }
    std::string hex;
    for (std::uint32_t v : h)
        for (int i = 28; i >= 0; i -= 4)
            hex += "0123456789abcdef"[(v >> i) & 0xF];
    return hex;
}

std::string sha256OfIds(const Ids& ids) {
    std::string bytes;
    for (std::int32_t id : ids)
        for (int i = 0; i < 4; ++i)
            bytes += static_cast<char>((std::uint32_t(id) >> (8 * i)) & 0xFF);
    return sha256Hex(bytes.data(), bytes.size());
}

nlohmann::json tokenizerReference() {
    return nlohmann::json::parse(readFile(qs::test::tinyLlama() / "tokenizer_reference.json"));
}

} // namespace

// ---- the fixture's byte-level BPE -------------------------------------------------------------------------

TEST(TokenizerSha256, KnownDigests) {
    EXPECT_EQ(sha256Hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const std::string long56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    EXPECT_EQ(sha256Hex(long56.data(), long56.size()),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(TokenizerFixture, LoadsByteLevelBpe) {
    const auto tok = loadTokenizer(qs::test::tinyLlama());
    EXPECT_EQ(tok->vocabSize(), 512);
    EXPECT_EQ(tok->tokenId("<|endoftext|>"), 511);
    EXPECT_EQ(tok->tokenId("\xC4\xA0the"), 258); // "Ġthe"
    EXPECT_EQ(tok->tokenPiece(511), "<|endoftext|>");
    EXPECT_EQ(tok->tokenPiece(512), "");
    EXPECT_FALSE(tok->bosId().has_value()); // tokenizer_config.json: bos_token null
    EXPECT_EQ(tok->eosId(), 511);
    EXPECT_NE(tok->description().find("byte-level BPE"), std::string::npos);
    // The directory and the file itself load the same tokenizer.
    const auto direct = loadTokenizer(qs::test::tinyLlama() / "tokenizer.json");
    EXPECT_EQ(direct->encode("And God said"), tok->encode("And God said"));
}

TEST(TokenizerFixture, ReferenceStrings) {
    const auto tok = loadTokenizer(qs::test::tinyLlama());
    const auto ref = tokenizerReference();
    ASSERT_EQ(ref["cases"].size(), 22u);
    for (const auto& c : ref["cases"]) {
        const std::string text = c["text"].get<std::string>();
        const Ids expected = c["ids"].get<Ids>();
        const Ids ids = tok->encode(text);
        EXPECT_EQ(ids, expected) << "text: " << text;
        std::vector<std::string> pieces;
        for (std::int32_t id : ids)
            pieces.push_back(tok->tokenPiece(id));
        EXPECT_EQ(pieces, c["tokens"].get<std::vector<std::string>>()) << "text: " << text;
        EXPECT_EQ(tok->decode(ids), text);
    }
}

TEST(TokenizerFixture, CorpusSplits) {
    const auto tok = loadTokenizer(qs::test::tinyLlama());
    const auto ref = tokenizerReference()["whole_file_encodings"];
    for (const char* split : {"train", "calib", "test"}) {
        SCOPED_TRACE(split);
        const auto& r = ref[split];
        const std::string text = readFile(qs::test::fixtures() / r["file"].get<std::string>());
        ASSERT_EQ(text.size(), r["n_chars"].get<std::size_t>());
        const auto t0 = std::chrono::steady_clock::now();
        const Ids ids = tok->encode(text);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::printf("[ tokenizer ] encode %s.txt: %zu bytes -> %zu tokens in %.1f ms\n", split, text.size(),
                    ids.size(), ms);
        ASSERT_EQ(ids.size(), r["n_tokens"].get<std::size_t>());
        EXPECT_EQ(Ids(ids.begin(), ids.begin() + 32), r["first_32_ids"].get<Ids>());
        EXPECT_EQ(Ids(ids.end() - 8, ids.end()), r["last_8_ids"].get<Ids>());
        EXPECT_EQ(sha256OfIds(ids), r["sha256_of_ids_int32_le"].get<std::string>());
        if (std::string(split) == "test") {
            EXPECT_LT(ms, 1000.0);
            EXPECT_EQ(tok->decode(ids), text);
        }
    }
}

TEST(TokenizerFixture, MatchesPerplexityWindows) {
    // ref_test_tokens.npy: int32 [8192] = the first 8192 ids of test.txt (a 128-byte .npy header).
    const std::string npy = readFile(qs::test::tinyLlama() / "ref_test_tokens.npy");
    ASSERT_EQ(npy.size(), 128u + 8192u * 4u);
    Ids expected(8192);
    std::memcpy(expected.data(), npy.data() + 128, 8192 * 4);
    const auto tok = loadTokenizer(qs::test::tinyLlama());
    const Ids ids = tok->encode(readFile(qs::test::fixtures() / "corpus" / "test.txt"));
    ASSERT_GE(ids.size(), 8192u);
    EXPECT_EQ(Ids(ids.begin(), ids.begin() + 8192), expected);
}

namespace {
// The fixture's tokenizer.json with its pre-tokenizer replaced the way Llama-3 / Qwen2 files spell it:
// Sequence [Split(Regex, Isolated), ByteLevel(use_regex false)].
nlohmann::json fixtureWithSplit(pretok::RegexKind kind) {
    auto j = nlohmann::json::parse(readFile(qs::test::tinyLlama() / "tokenizer.json"));
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         nlohmann::json::array({{{"type", "Split"},
                                 {"pattern", {{"Regex", std::string(pretok::regexPattern(kind))}}},
                                 {"behavior", "Isolated"},
                                 {"invert", false}},
                                {{"type", "ByteLevel"},
                                 {"add_prefix_space", false},
                                 {"trim_offsets", false},
                                 {"use_regex", false}}})}};
    return j;
}
} // namespace

TEST(TokenizerByteLevelJson, SplitSequenceEqualsByteLevelRegex) {
    const fs::path dir = testDir();
    writeFile(dir / "tokenizer.json", fixtureWithSplit(pretok::RegexKind::Gpt2).dump());
    const auto tok = loadTokenizer(dir);
    const auto ref = tokenizerReference(); // named: a range-for would not keep the temporary alive
    for (const auto& c : ref["cases"])
        EXPECT_EQ(tok->encode(c["text"].get<std::string>()), c["ids"].get<Ids>()) << c["text"];
}

TEST(TokenizerByteLevelJson, Llama3RegexAndNfc) {
    const fs::path dir = testDir();
    auto j = fixtureWithSplit(pretok::RegexKind::Llama3);
    j["normalizer"] = {{"type", "NFC"}};
    writeFile(dir / "tokenizer.json", j.dump());
    const auto tok = loadTokenizer(dir);
    // Expected ids from a plain Python BPE over the same merges with the `regex` module's splits.
    EXPECT_EQ(tok->encode("I'M 1234567 (x)\n\n  y  "),
              (Ids{40, 6, 44, 220, 16, 17, 18, 19, 20, 21, 22, 220, 7, 87, 8, 198, 198, 220, 306, 370}));
    EXPECT_EQ(tok->encode("Hello world's 12345!"),
              (Ids{39, 68, 277, 78, 265, 280, 324, 506, 220, 16, 17, 18, 19, 20, 0}));
    EXPECT_EQ(tok->encode("    def f(x):\n        return x ** 2  # square\n"),
              (Ids{370, 220, 285, 68,  69, 274, 7,   87, 8,   25,  198, 370, 370, 370, 220, 364, 83,
                   502, 220, 87,  220, 9,  9,   220, 17, 220, 220, 2,   261, 80,  84,  64,  269, 198}));
    // NFC composes e + U+0301 into é before the split.
    EXPECT_EQ(tok->encode("Cafe\xCC\x81"), tok->encode("Caf\xC3\xA9"));
    EXPECT_EQ(tok->encode("a<|endoftext|>b"), (Ids{64, 511, 65}));
}

// ---- pre-tokenizer splitters and Unicode tables -------------------------------------------------------

namespace {
std::vector<std::string> split(pretok::RegexKind kind, const std::string& text) {
    std::vector<std::string> out;
    for (const auto& m : pretok::regexMatches(kind, text))
        out.push_back(text.substr(m.begin, m.end - m.begin));
    return out;
}
} // namespace

TEST(TokenizerPreTokenizer, Gpt2Regex) {
    using V = std::vector<std::string>;
    EXPECT_EQ(split(pretok::RegexKind::Gpt2, "Hello  world's 42!!  \n x"),
              (V{"Hello", " ", " world", "'s", " 42", "!!", "  \n", " x"}));
    EXPECT_EQ(split(pretok::RegexKind::Gpt2, "I'M ok   "), (V{"I", "'", "M", " ok", "   "}));
    EXPECT_EQ(split(pretok::RegexKind::Gpt2, "caf\xC3\xA9 \xD0\x9C\xD0\xB8\xD1\x80"),
              (V{"caf\xC3\xA9", " \xD0\x9C\xD0\xB8\xD1\x80"}));
}

TEST(TokenizerPreTokenizer, Llama3AndQwen2Regex) {
    using V = std::vector<std::string>;
    EXPECT_EQ(split(pretok::RegexKind::Llama3, "I'M 1234567 (x)\n\n  y  "),
              (V{"I", "'M", " ", "123", "456", "7", " (", "x", ")\n\n", " ", " y", "  "}));
    EXPECT_EQ(split(pretok::RegexKind::Qwen2, "ab 123"), (V{"ab", " ", "1", "2", "3"}));
    EXPECT_EQ(split(pretok::RegexKind::Llama3, "a \t\n  b"), (V{"a", " \t\n", " ", " b"}));
    EXPECT_EQ(pretok::recognizeRegex(pretok::regexPattern(pretok::RegexKind::Qwen2)),
              pretok::RegexKind::Qwen2);
    EXPECT_FALSE(pretok::recognizeRegex("\\w+").has_value());
}

TEST(TokenizerPreTokenizer, Behaviors) {
    using R = std::vector<std::pair<std::size_t, std::size_t>>;
    const auto marks = pretok::literalMatches("-", "a-b--c");
    EXPECT_EQ(pretok::applyBehavior(marks, pretok::Behavior::Removed), (R{{0, 1}, {2, 3}, {5, 6}}));
    EXPECT_EQ(pretok::applyBehavior(marks, pretok::Behavior::Isolated),
              (R{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}}));
    EXPECT_EQ(pretok::applyBehavior(marks, pretok::Behavior::MergedWithPrevious),
              (R{{0, 2}, {2, 4}, {4, 5}, {5, 6}}));
    EXPECT_EQ(pretok::applyBehavior(marks, pretok::Behavior::MergedWithNext),
              (R{{0, 1}, {1, 3}, {3, 4}, {4, 6}}));
    EXPECT_EQ(pretok::applyBehavior(marks, pretok::Behavior::Contiguous),
              (R{{0, 1}, {1, 2}, {2, 3}, {3, 5}, {5, 6}}));
}

TEST(TokenizerUnicode, Classes) {
    EXPECT_TRUE(unicode::isLetter(U'a'));
    EXPECT_TRUE(unicode::isLetter(U'\u00E9'));
    EXPECT_TRUE(unicode::isLetter(U'\u65E5'));     // CJK ideograph
    EXPECT_TRUE(unicode::isLetter(U'\U00020000')); // CJK extension B (a range in UnicodeData.txt)
    EXPECT_FALSE(unicode::isLetter(U'1'));
    EXPECT_TRUE(unicode::isNumber(U'\u0663')); // Arabic-Indic three
    EXPECT_TRUE(unicode::isNumber(U'\u00BD')); // ½ (No)
    EXPECT_TRUE(unicode::isWhitespace(U'\u00A0'));
    EXPECT_TRUE(unicode::isWhitespace(U'\u3000'));
    EXPECT_FALSE(unicode::isWhitespace(U'\u200B')); // zero width space is not White_Space
    EXPECT_FALSE(unicode::isLetter(U'\U0001F600'));
    const std::string bad = "a\xFF\xC3";
    EXPECT_EQ(unicode::decodeUtf8(bad, 1).cp, unicode::kInvalid);
    EXPECT_EQ(unicode::decodeUtf8(bad, 2).length, 1);
}

TEST(TokenizerUnicode, Nfc) {
    EXPECT_EQ(unicode::nfc("plain ascii"), "plain ascii");
    EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");                                // e + U+0301 -> é
    EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81"); // Hangul L V T -> 각
    EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");                             // Ångström sign -> Å
    EXPECT_EQ(unicode::nfc("a\xCC\xA3\xCC\x82"), "\xE1\xBA\xAD"); // a + dot below + circumflex -> ậ
    EXPECT_EQ(unicode::nfc("a\xCC\x82\xCC\xA3"), "\xE1\xBA\xAD"); // reordered marks compose too
    EXPECT_EQ(unicode::nfc("\xC3\xA9\xFF"), "\xC3\xA9\xFF");      // invalid bytes pass through
}

// ---- hand-made SentencePiece-style tokenizer.json ---------------------------------------------------------

namespace {

const std::string kMeta = "\xE2\x96\x81"; // ▁

// A Llama-2-style tokenizer.json: <unk> <s> </s>, 256 byte tokens (ids 3..258), then
// 259 ▁, 260 a, 261 b, 262 c, 263 ab, 264 ▁ab, 265 abc, 266 é; merges "a b" < "▁ ab" < "ab c".
nlohmann::json spStyleTokenizer() {
    using nlohmann::json;
    json vocab = json::object();
    vocab["<unk>"] = 0;
    vocab["<s>"] = 1;
    vocab["</s>"] = 2;
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        vocab[name] = 3 + b;
    }
    const std::vector<std::string> pieces = {kMeta, "a", "b", "c", "ab", kMeta + "ab", "abc", "\xC3\xA9"};
    for (std::size_t i = 0; i < pieces.size(); ++i)
        vocab[pieces[i]] = 259 + static_cast<int>(i);
    json added = json::array();
    for (int id = 0; id < 3; ++id)
        added.push_back({{"id", id},
                         {"content", id == 0   ? "<unk>"
                                     : id == 1 ? "<s>"
                                               : "</s>"},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", false},
                         {"special", true}});
    json j;
    j["version"] = "1.0";
    j["added_tokens"] = added;
    j["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers",
         json::array({{{"type", "Prepend"}, {"prepend", kMeta}},
                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMeta}}})}};
    j["pre_tokenizer"] = nullptr;
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                   {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
    j["decoder"] = {
        {"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}},
                                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
    j["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", "<unk>"},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", true},
                  {"byte_fallback", true},
                  {"vocab", vocab},
                  {"merges", json::array({"a b", kMeta + " ab", "ab c"})}};
    return j;
}

std::unique_ptr<Tokenizer> loadJson(const nlohmann::json& j, const std::string& name = "tokenizer.json") {
    const fs::path p = testDir() / name;
    writeFile(p, j.dump());
    return loadTokenizer(p);
}

} // namespace

TEST(TokenizerSentencePieceJson, NormalizerPrependReplace) {
    const auto tok = loadJson(spStyleTokenizer());
    EXPECT_NE(tok->description().find("SentencePiece-style BPE"), std::string::npos);
    EXPECT_EQ(tok->vocabSize(), 267);
    EXPECT_EQ(tok->bosId(), 1); // from the TemplateProcessing post-processor
    // "▁abc▁ab": "a b" merges both pairs first, then "▁ ab" (rank 1) beats "ab c" (rank 2).
    EXPECT_EQ(tok->encode("abc ab"), (Ids{264, 262, 264}));
    EXPECT_EQ(tok->decode(Ids{264, 262, 264}), "abc ab");
    // ç is not in the vocabulary: its UTF-8 bytes C3 A7 fall back to <0xC3> <0xA7>.
    EXPECT_EQ(tok->encode("\xC3\xA7"
                          "a"),
              (Ids{259, 3 + 0xC3, 3 + 0xA7, 260}));
    EXPECT_EQ(tok->decode(Ids{259, 3 + 0xC3, 3 + 0xA7, 260}), "\xC3\xA7"
                                                              "a");
    EXPECT_EQ(tok->encode("\xC3\xA9"), (Ids{259, 266}));
    // The normalizer prepends ▁ to a leading space too: " ab" -> "▁▁ab".
    EXPECT_EQ(tok->encode(" ab"), (Ids{259, 264}));
    // Special tokens are matched in the raw text; the text after them is normalized on its own.
    EXPECT_EQ(tok->encode("<s>ab</s>"), (Ids{1, 264, 2}));
    EXPECT_EQ(tok->encode(""), Ids{});
    for (const char* s : {"abc ab", "  a b  c", "\xC3\xA7\xC3\xA9 \xF0\x9F\x98\x80 ba"})
        EXPECT_EQ(tok->decode(tok->encode(s)), s);
}

TEST(TokenizerSentencePieceJson, MetaspacePreTokenizer) {
    auto j = spStyleTokenizer();
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {
        {"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}, {"split", false}};
    j["decoder"] = {
        {"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}, {"split", false}};
    const auto tok = loadJson(j);
    EXPECT_EQ(tok->encode("abc ab"), (Ids{264, 262, 264}));
    EXPECT_EQ(tok->encode(" ab"), (Ids{264})); // already starts with ▁: nothing prepended
    // prepend_scheme "first": only the text at offset 0 gets the ▁.
    EXPECT_EQ(tok->encode("<s>ab"), (Ids{1, 263}));
    EXPECT_EQ(tok->decode(Ids{264, 262, 264}), "abc ab");

    j["pre_tokenizer"]["prepend_scheme"] = "always";
    j["pre_tokenizer"]["split"] = true;
    const auto always = loadJson(j, "always.json");
    EXPECT_EQ(always->encode("<s>ab"), (Ids{1, 264}));
    EXPECT_EQ(always->encode("abc ab"), (Ids{264, 262, 264}));
}

TEST(TokenizerSentencePieceJson, FusedUnknown) {
    auto j = spStyleTokenizer();
    j["model"]["byte_fallback"] = false;
    const auto tok = loadJson(j);
    // x, y, z have no token and no byte fallback: one fused <unk>.
    EXPECT_EQ(tok->encode("xyz ab"), (Ids{259, 0, 264}));
    j["model"]["fuse_unk"] = false;
    EXPECT_EQ(loadJson(j, "nofuse.json")->encode("xyz"), (Ids{259, 0, 0, 0}));
}

TEST(TokenizerSentencePieceJson, MergesAsPairsAndIgnoreMerges) {
    auto j = spStyleTokenizer();
    j["model"]["merges"] = nlohmann::json::array({{"a", "b"}, {kMeta, "ab"}, {"ab", "c"}});
    EXPECT_EQ(loadJson(j)->encode("abc ab"), (Ids{264, 262, 264}));
    // ignore_merges: a whole pre-token found in the vocabulary is taken as it is, even one that no
    // merge sequence produces ("ca").
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Removed"}, {"invert", false}};
    j["model"]["vocab"]["ca"] = 267;
    EXPECT_EQ(loadJson(j, "merges.json")->encode("ca ab"), (Ids{262, 260, 263}));
    j["model"]["ignore_merges"] = true;
    EXPECT_EQ(loadJson(j, "ignore.json")->encode("ca ab"), (Ids{267, 263}));
}

// ---- malformed tokenizer.json
// -------------------------------------------------------------------------------

TEST(TokenizerMalformedJson, ClearErrors) {
    const fs::path dir = testDir();
    const auto write = [&](const std::string& name, const std::string& text) {
        writeFile(dir / name, text);
        return dir / name;
    };
    expectLoadError(write("invalid.json", "{\"model\": {"), {"invalid JSON"});
    expectLoadError(write("nomodel.json", "{\"version\": \"1.0\"}"), {"no \"model\""});
    auto j = spStyleTokenizer();
    j["model"]["type"] = "WordPiece";
    expectLoadError(write("wordpiece.json", j.dump()), {"WordPiece", "not supported"});
    j["model"]["type"] = "Unigram";
    expectLoadError(write("unigram.json", j.dump()), {"Unigram", "not supported"});
    j = spStyleTokenizer();
    j["model"]["merges"].push_back("a zz");
    expectLoadError(write("badmerge.json", j.dump()), {"merge 3", "'zz'", "not in the vocabulary"});
    j = spStyleTokenizer();
    j["model"]["merges"].push_back("b c"); // "bc" is no token
    expectLoadError(write("badresult.json", j.dump()), {"'bc'", "not in the vocabulary"});
    j = spStyleTokenizer();
    j["model"]["merges"].push_back("abc");
    expectLoadError(write("onetoken.json", j.dump()), {"merge 3", "two tokens"});
    j = spStyleTokenizer();
    j["model"]["vocab"] = nlohmann::json::array();
    expectLoadError(write("vocabarray.json", j.dump()), {"vocab"});
    j = spStyleTokenizer();
    j["normalizer"] = {{"type", "NFKC"}};
    expectLoadError(write("nfkc.json", j.dump()), {"normalizer 'NFKC' is not supported"});
    j = spStyleTokenizer();
    j["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}, {"invert", false}};
    expectLoadError(write("regex.json", j.dump()), {"regex", "not supported"});
    j = spStyleTokenizer();
    j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
    expectLoadError(write("bert.json", j.dump()), {"BertPreTokenizer"});
    j = spStyleTokenizer();
    j["decoder"] = {{"type", "WordPiece"}};
    expectLoadError(write("decoder.json", j.dump()), {"decoder 'WordPiece'"});
    j = spStyleTokenizer();
    j["model"]["unk_token"] = "<nope>";
    expectLoadError(write("unk.json", j.dump()), {"unk_token", "<nope>"});
    j = spStyleTokenizer();
    j["model"]["vocab"]["a"] = "x";
    expectLoadError(write("badid.json", j.dump()), {"'a'", "id"});
}

TEST(TokenizerLoad, MissingFiles) {
    const fs::path dir = testDir();
    try {
        loadTokenizer(dir);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), dir.string() + ": no tokenizer.json or tokenizer.model");
    }
    EXPECT_THROW(loadTokenizer(dir / "absent"), Error);
}

// ---- hand-built SentencePiece tokenizer.model -------------------------------------------------------------

namespace {

// Protobuf wire-format writers.
std::string varint(std::uint64_t v) {
    std::string s;
    do {
        s += static_cast<char>((v & 0x7F) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return s;
}
std::string tag(int field, int wire) {
    return varint(std::uint64_t(field) << 3 | std::uint64_t(wire));
}
std::string lenField(int field, const std::string& bytes) {
    return tag(field, 2) + varint(bytes.size()) + bytes;
}
std::string intField(int field, std::uint64_t v) {
    return tag(field, 0) + varint(v);
}
std::string floatField(int field, float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    std::string s = tag(field, 5);
    for (int i = 0; i < 4; ++i)
        s += static_cast<char>((u >> (8 * i)) & 0xFF);
    return s;
}

struct SpPiece {
    std::string text;
    float score;
    int type; // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
};

// ModelProto: pieces, TrainerSpec {model_type, byte_fallback}, NormalizerSpec {precompiled_charsmap,
// add_dummy_prefix, remove_extra_whitespaces}.
std::string modelProto(const std::vector<SpPiece>& pieces, int modelType, bool byteFallback,
                       bool removeExtra = true, const std::string& charsMap = "") {
    std::string out;
    for (const SpPiece& p : pieces)
        out += lenField(1, lenField(1, p.text) + floatField(2, p.score) +
                               (p.type != 1 ? intField(3, std::uint64_t(p.type)) : ""));
    out += lenField(2, intField(3, std::uint64_t(modelType)) + intField(35, byteFallback ? 1 : 0));
    out += lenField(3, lenField(1, "identity") + (charsMap.empty() ? "" : lenField(2, charsMap)) +
                           intField(3, 1) + intField(4, removeExtra ? 1 : 0));
    return out;
}

std::vector<SpPiece> basePieces() {
    return {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
}

// BPE pieces: 3 a, 4 b, 5 c, 6 ▁, 7 ab, 8 bc, 9 ▁a, 10 abc (scores chosen so "bc" merges first).
std::vector<SpPiece> bpePieces() {
    auto p = basePieces();
    for (SpPiece s : std::vector<SpPiece>{{"a", -5, 1},
                                          {"b", -5, 1},
                                          {"c", -5, 1},
                                          {kMeta, -5, 1},
                                          {"ab", -1, 1},
                                          {"bc", -0.5f, 1},
                                          {kMeta + "a", -2, 1},
                                          {"abc", -3, 1}})
        p.push_back(s);
    return p;
}

std::unique_ptr<Tokenizer> loadModel(const std::string& bytes, const std::string& dirName = "model") {
    const fs::path dir = testDir() / dirName;
    fs::create_directories(dir);
    writeFile(dir / "tokenizer.model", bytes);
    return loadTokenizer(dir);
}

} // namespace

TEST(TokenizerSentencePieceModel, BpeMergesByScore) {
    const auto tok = loadModel(modelProto(bpePieces(), 2, false));
    EXPECT_NE(tok->description().find("SentencePiece BPE"), std::string::npos);
    EXPECT_EQ(tok->vocabSize(), 11);
    EXPECT_EQ(tok->bosId(), 1);
    EXPECT_EQ(tok->eosId(), 2);
    EXPECT_EQ(tok->tokenId(kMeta + "a"), 9);
    // "▁abc": "bc" (-0.5) first, then "▁a" (-2); "ab" went stale and "▁abc" is no piece.
    EXPECT_EQ(tok->encode("abc"), (Ids{9, 8}));
    EXPECT_EQ(tok->decode(Ids{9, 8}), "abc");
    // remove_extra_whitespaces: "  ab  c " -> "▁ab▁c"; "ab" (-1) beats "▁a" (-2).
    EXPECT_EQ(tok->encode("  ab  c "), (Ids{6, 7, 6, 5}));
    EXPECT_EQ(tok->decode(Ids{6, 7, 6, 5}), "ab c");
    // Unknown characters without byte fallback: one <unk> per run.
    EXPECT_EQ(tok->encode("xyz a"), (Ids{6, 0, 9}));
    EXPECT_EQ(tok->decode(Ids{1, 9, 2}), "a"); // control pieces decode to nothing
    EXPECT_EQ(tok->encode(""), Ids{});
    EXPECT_EQ(tok->encode("   "), Ids{});
}

TEST(TokenizerSentencePieceModel, BpeByteFallbackAndUnused) {
    auto pieces = bpePieces();
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        pieces.push_back({name, 0, 6}); // ids 11..266
    }
    const auto tok = loadModel(modelProto(pieces, 2, true, false));
    // é is no piece: its bytes C3 A9 become byte pieces.
    EXPECT_EQ(tok->encode("a\xC3\xA9"), (Ids{9, 11 + 0xC3, 11 + 0xA9}));
    EXPECT_EQ(tok->decode(Ids{9, 11 + 0xC3, 11 + 0xA9}), "a\xC3\xA9");
    // remove_extra_whitespaces off: every space is kept.
    EXPECT_EQ(tok->encode(" a"), (Ids{6, 9}));
    EXPECT_EQ(tok->decode(tok->encode("  ab  c ")), "  ab  c ");

    // An unused piece may be formed by a merge but is split back into what it was merged from.
    pieces[8].type = 5; // "bc" unused
    const auto unused = loadModel(modelProto(pieces, 2, true), "unused");
    EXPECT_EQ(unused->encode("abc"), (Ids{9, 4, 5})); // "▁a" "b" "c"
}

TEST(TokenizerSentencePieceModel, UnigramViterbi) {
    auto pieces = basePieces();
    // 3 ▁, 4 a, 5 b, 6 ab, 7 ▁a, 8 ▁ab, 9 c
    for (SpPiece s : std::vector<SpPiece>{{kMeta, -3, 1},
                                          {"a", -4, 1},
                                          {"b", -4, 1},
                                          {"ab", -3.5f, 1},
                                          {kMeta + "a", -3, 1},
                                          {kMeta + "ab", -7, 1},
                                          {"c", -4.5f, 1}})
        pieces.push_back(s);
    const auto tok = loadModel(modelProto(pieces, 1, false));
    EXPECT_NE(tok->description().find("Unigram"), std::string::npos);
    // "▁ab": ▁+ab = -6.5 beats ▁a+b = -7, ▁ab = -7 and ▁+a+b = -11.
    EXPECT_EQ(tok->encode("ab"), (Ids{3, 6}));
    // d is unknown (score min - 10 = -14.5): one <unk> per run.
    EXPECT_EQ(tok->encode("abd"), (Ids{3, 6, 0}));
    EXPECT_EQ(tok->encode("dd"), (Ids{3, 0}));
    EXPECT_EQ(tok->encode("a c"), (Ids{7, 3, 9}));
    EXPECT_EQ(tok->decode(Ids{7, 3, 9}), "a c");
    EXPECT_EQ(tok->decode(Ids{3, 6, 0}), "ab \xE2\x81\x87 "); // <unk> decodes as " ⁇ "
}

namespace {
// A precompiled_charsmap as sentencepiece stores it: a little-endian trie size, a Darts-clone double
// array, then NUL-terminated replacements. Rules "A" -> "a", "BC" -> "x", "\t" -> " ", laid out by hand:
// a child of node n with offset o and label c sits at n ^ o ^ c; a leaf's value at n ^ o (bit 31 set).
std::string handMadeCharsMap() {
    std::vector<std::uint32_t> u(258, 0);
    const auto node = [](std::uint32_t offset, bool leaf, std::uint32_t label) {
        return offset << 10 | (leaf ? 1u << 8 : 0u) | label;
    };
    u[0x41] = node(1, true, 0x41); // root (offset 0) -> 'A'
    u[0x41 ^ 1] = 1u << 31 | 0;    // value: pool offset 0 ("a")
    u[0x42] = node(256, false, 0x42);
    u[0x42 ^ 256 ^ 0x43] = node(1, true, 0x43); // 'B' -> 'C'
    u[(0x42 ^ 256 ^ 0x43) ^ 1] = 1u << 31 | 2;  // "x"
    u[0x09] = node(1, true, 0x09);
    u[0x09 ^ 1] = 1u << 31 | 4; // " "
    std::string blob;
    for (int i = 0; i < 4; ++i)
        blob += static_cast<char>(((u.size() * 4) >> (8 * i)) & 0xFF);
    for (std::uint32_t v : u)
        for (int i = 0; i < 4; ++i)
            blob += static_cast<char>((v >> (8 * i)) & 0xFF);
    return blob + std::string("a\0x\0 \0", 6);
}
} // namespace

TEST(TokenizerSentencePieceModel, PrecompiledCharsMap) {
    auto pieces = basePieces();
    // 3 ▁, 4 a, 5 x, 6 B
    for (SpPiece s : std::vector<SpPiece>{{kMeta, -1, 1}, {"a", -1, 1}, {"x", -1, 1}, {"B", -1, 1}})
        pieces.push_back(s);
    const auto tok = loadModel(modelProto(pieces, 2, false, true, handMadeCharsMap()));
    // "ABC B" -> "a" "x" "▁" "B"; a lone "B" has no rule and stays.
    EXPECT_EQ(tok->encode("ABC B"), (Ids{3, 4, 5, 3, 6}));
    // The tab becomes a space, which remove_extra_whitespaces then collapses with the next one.
    EXPECT_EQ(tok->encode("A\t B\t"), (Ids{3, 4, 3, 6}));
    const fs::path bad = testDir() / "bad";
    fs::create_directories(bad);
    writeFile(bad / "tokenizer.model", modelProto(pieces, 2, false, true, std::string("\xFF\xFF\0\0abc", 7)));
    expectLoadError(bad / "tokenizer.model", {"precompiled_charsmap"});
}

TEST(TokenizerSentencePieceModel, MalformedFiles) {
    const fs::path dir = testDir();
    const auto write = [&](const std::string& name, const std::string& bytes) {
        const fs::path d = dir / name;
        fs::create_directories(d);
        writeFile(d / "tokenizer.model", bytes);
        return d / "tokenizer.model";
    };
    const std::string good = modelProto(bpePieces(), 2, false);
    expectLoadError(write("empty", ""), {"no pieces"});
    expectLoadError(write("truncated", good.substr(0, good.size() / 2)), {"malformed"});
    expectLoadError(write("garbage", std::string("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 11)),
                    {"malformed"});
    expectLoadError(write("wiretype", intField(1, 5) + good), {"field 1", "wire type 0"});
    expectLoadError(write("word", modelProto(bpePieces(), 3, false)), {"WORD", "not supported"});
    expectLoadError(write("nounk", modelProto({{"a", 0, 1}}, 2, false)), {"unknown piece"});
    expectLoadError(write("nobytes", modelProto(bpePieces(), 2, true)), {"byte_fallback", "missing"});
    auto dup = bpePieces();
    dup.push_back({"a", 0, 1});
    expectLoadError(write("dup", modelProto(dup, 2, false)), {"'a'", "twice"});
    expectLoadError(write("badtype", lenField(1, lenField(1, "x") + intField(3, 9))), {"piece type 9"});
    for (const char* name : {"<0x-1>", "<0x 1>", "<0xG1>", "<0x1>"}) { // sign, space, not hex, short
        auto bytes = bpePieces();
        bytes.push_back({name, 0, 6});
        expectLoadError(write("byte", modelProto(bytes, 2, false)), {name, "<0xAB>"});
    }
}
