// SPDX-License-Identifier: MIT
#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/unicode.h"

#include <algorithm>

namespace qs::core::pretok {
namespace {

constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Some conversions spell the case-insensitive contractions out as ASCII classes (same matches).
constexpr std::string_view kLlama3Classes =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Classes =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The text as code points, with the byte offset of each (and of the end).
struct CodePoints {
    std::vector<char32_t> cp;
    std::vector<std::size_t> offset;

    explicit CodePoints(std::string_view text) {
        cp.reserve(text.size());
        offset.reserve(text.size() + 1);
        for (std::size_t pos = 0; pos < text.size();) {
            const unicode::Utf8Char c = unicode::decodeUtf8(text, pos);
            cp.push_back(c.cp);
            offset.push_back(pos);
            pos += static_cast<std::size_t>(c.length);
        }
        offset.push_back(text.size());
    }
};

bool isL(char32_t c) {
    return unicode::isLetter(c);
}
bool isN(char32_t c) {
    return unicode::isNumber(c);
}
bool isS(char32_t c) {
    return unicode::isWhitespace(c);
}
bool isOther(char32_t c) {
    return !isS(c) && !isL(c) && !isN(c);
} // [^\s\p{L}\p{N}]
bool isCrLf(char32_t c) {
    return c == '\r' || c == '\n';
}
char32_t lower(char32_t c) {
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

template <class Pred> std::size_t runEnd(const std::vector<char32_t>& cp, std::size_t i, Pred pred) {
    while (i < cp.size() && pred(cp[i]))
        ++i;
    return i;
}

// Length of 's|'t|'re|'ve|'m|'ll|'d at i (0 if none); `fold` makes it case-insensitive.
std::size_t contraction(const std::vector<char32_t>& cp, std::size_t i, bool fold) {
    if (cp[i] != '\'' || i + 1 >= cp.size()) return 0;
    const auto f = [&](char32_t c) { return fold ? lower(c) : c; };
    const char32_t a = f(cp[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= cp.size()) return 0;
    const char32_t b = f(cp[i + 2]);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

// \s+(?!\S)|\s+ at i, where cp[i] is whitespace: the whole run if it ends the text, otherwise the run
// minus its last character (which then leads the next word), but at least one character.
std::size_t whitespaceRun(const std::vector<char32_t>& cp, std::size_t i) {
    const std::size_t end = runEnd(cp, i, isS);
    if (end == cp.size() || end - i == 1) return end - i;
    return end - i - 1;
}

// One match of the GPT-2 regex starting at i (always >= 1 character).
std::size_t matchGpt2(const std::vector<char32_t>& cp, std::size_t i) {
    if (std::size_t n = contraction(cp, i, false)) return n;
    const char32_t c = cp[i];
    const bool spaceThen = c == ' ' && i + 1 < cp.size();
    for (auto cls : {isL, isN, isOther}) { // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
        if (spaceThen && cls(cp[i + 1])) return runEnd(cp, i + 1, cls) - i;
        if (cls(c)) return runEnd(cp, i, cls) - i;
    }
    return whitespaceRun(cp, i);
}

// One match of the Llama-3 / Qwen2 regex starting at i; `maxDigits` is 3 (Llama-3) or 1 (Qwen2).
std::size_t matchLlama3(const std::vector<char32_t>& cp, std::size_t i, std::size_t maxDigits) {
    if (std::size_t n = contraction(cp, i, true)) return n;
    const char32_t c = cp[i];
    const bool hasNext = i + 1 < cp.size();
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!isCrLf(c) && !isL(c) && !isN(c) && hasNext && isL(cp[i + 1])) return runEnd(cp, i + 1, isL) - i;
    if (isL(c)) return runEnd(cp, i, isL) - i;
    // \p{N}{1,3}
    if (isN(c)) return std::min(runEnd(cp, i, isN) - i, maxDigits);
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    if (c == ' ' && hasNext && isOther(cp[i + 1])) return runEnd(cp, runEnd(cp, i + 1, isOther), isCrLf) - i;
    if (isOther(c)) return runEnd(cp, runEnd(cp, i, isOther), isCrLf) - i;
    // \s*[\r\n]+ : greedy \s* backs off to the last line break of the whitespace run.
    const std::size_t end = runEnd(cp, i, isS);
    for (std::size_t p = end; p > i; --p)
        if (isCrLf(cp[p - 1])) return p - i;
    return whitespaceRun(cp, i);
}

} // namespace

std::string_view regexPattern(RegexKind kind) {
    switch (kind) {
    case RegexKind::Gpt2:
        return kGpt2;
    case RegexKind::Llama3:
        return kLlama3;
    case RegexKind::Qwen2:
        return kQwen2;
    }
    return {};
}

std::optional<RegexKind> recognizeRegex(std::string_view pattern) {
    if (pattern == kGpt2) return RegexKind::Gpt2;
    if (pattern == kLlama3 || pattern == kLlama3Classes) return RegexKind::Llama3;
    if (pattern == kQwen2 || pattern == kQwen2Classes) return RegexKind::Qwen2;
    return std::nullopt;
}

std::vector<Mark> regexMatches(RegexKind kind, std::string_view text) {
    const CodePoints cps(text);
    std::vector<Mark> marks;
    for (std::size_t i = 0; i < cps.cp.size();) {
        const std::size_t n = kind == RegexKind::Gpt2
                                  ? matchGpt2(cps.cp, i)
                                  : matchLlama3(cps.cp, i, kind == RegexKind::Llama3 ? 3 : 1);
        marks.push_back({cps.offset[i], cps.offset[i + n], true});
        i += n;
    }
    return marks;
}

std::vector<Mark> literalMatches(std::string_view pattern, std::string_view text) {
    std::vector<Mark> marks;
    std::size_t pos = 0;
    if (!pattern.empty()) {
        for (std::size_t hit; (hit = text.find(pattern, pos)) != std::string_view::npos;
             pos = hit + pattern.size()) {
            if (hit > pos) marks.push_back({pos, hit, false});
            marks.push_back({hit, hit + pattern.size(), true});
        }
    }
    if (pos < text.size()) marks.push_back({pos, text.size(), false});
    return marks;
}

std::optional<Behavior> parseBehavior(std::string_view name) {
    if (name == "Removed") return Behavior::Removed;
    if (name == "Isolated") return Behavior::Isolated;
    if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
    if (name == "MergedWithNext") return Behavior::MergedWithNext;
    if (name == "Contiguous") return Behavior::Contiguous;
    return std::nullopt;
}

std::vector<std::pair<std::size_t, std::size_t>> applyBehavior(std::vector<Mark> marks, Behavior behavior,
                                                               bool invert) {
    if (invert)
        for (Mark& m : marks)
            m.isMatch = !m.isMatch;
    std::vector<std::pair<std::size_t, std::size_t>> out;
    out.reserve(marks.size());
    // Mirrors tokenizers' NormalizedString::split: a match joins its neighbour only when the
    // neighbour is not itself a match (MergedWith*), Contiguous joins runs of equal kind.
    bool previousMatch = false;
    switch (behavior) {
    case Behavior::Removed:
        for (const Mark& m : marks)
            if (!m.isMatch) out.emplace_back(m.begin, m.end);
        break;
    case Behavior::Isolated:
        for (const Mark& m : marks)
            out.emplace_back(m.begin, m.end);
        break;
    case Behavior::MergedWithPrevious:
        for (const Mark& m : marks) {
            if (m.isMatch && !previousMatch && !out.empty())
                out.back().second = m.end;
            else
                out.emplace_back(m.begin, m.end);
            previousMatch = m.isMatch;
        }
        break;
    case Behavior::MergedWithNext:
        for (auto it = marks.rbegin(); it != marks.rend(); ++it) {
            if (it->isMatch && !previousMatch && !out.empty())
                out.back().first = it->begin;
            else
                out.emplace_back(it->begin, it->end);
            previousMatch = it->isMatch;
        }
        std::reverse(out.begin(), out.end());
        break;
    case Behavior::Contiguous:
        for (const Mark& m : marks) {
            if (m.isMatch == previousMatch && !out.empty())
                out.back().second = m.end;
            else
                out.emplace_back(m.begin, m.end);
            previousMatch = m.isMatch;
        }
        break;
    }
    std::erase_if(out, [](const auto& r) { return r.first == r.second; });
    return out;
}

const std::array<char32_t, 256>& byteToUnicode() {
    static const std::array<char32_t, 256> table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable =
                (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
        }
        return t;
    }();
    return table;
}

int unicodeToByte(char32_t cp) {
    static const std::array<int, 324> inverse = [] {
        std::array<int, 324> inv;
        inv.fill(-1);
        const auto& fwd = byteToUnicode();
        for (int b = 0; b < 256; ++b)
            inv[fwd[static_cast<std::size_t>(b)]] = b;
        return inv;
    }();
    return cp < inverse.size() ? inverse[cp] : -1;
}

} // namespace qs::core::pretok
