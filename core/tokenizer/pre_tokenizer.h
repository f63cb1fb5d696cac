// SPDX-License-Identifier: MIT
#pragma once
#include "tokenizer/unicode.h"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Pre-tokenizer building blocks of Hugging Face tokenizers: the splitting regexes that real models ship,
// written as small state machines over code points (std::regex knows neither \p{L} nor lookahead on
// UTF-8), the split behaviours and the GPT-2 byte-to-unicode map.
namespace qs::core::pretok {

/// A byte range [begin, end) of a text and whether it is a match of the split pattern.
struct Mark {
    std::size_t begin;
    std::size_t end;
    bool isMatch;
};

/// The pre-tokenizer regexes understood, recognised by their exact pattern text.
enum class RegexKind {
    Gpt2,   ///< 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    Llama3, ///< (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
            ///< ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    Qwen2,  ///< as Llama3 with \p{N} (single digits)
};

/// The regex text of a kind (what tokenizer.json carries).
std::string_view regexPattern(RegexKind kind);
/// Which known regex `pattern` is; nullopt for any other pattern.
std::optional<RegexKind> recognizeRegex(std::string_view pattern);

/// Consecutive matches of `kind` over UTF-8 `text`, exactly as the regex's leftmost-first alternation
/// finds them. These regexes match every character, so the matches tile the text.
std::vector<Mark> regexMatches(RegexKind kind, std::string_view text);

/// Occurrences of a literal `pattern` (non-overlapping, left to right) and the gaps between them.
std::vector<Mark> literalMatches(std::string_view pattern, std::string_view text);

/// Each code point for which `pred` holds is a match of its own; the rest are gaps.
template <class Pred> std::vector<Mark> charMatches(std::string_view text, Pred pred) {
    std::vector<Mark> marks;
    for (std::size_t pos = 0; pos < text.size();) {
        const unicode::Utf8Char c = unicode::decodeUtf8(text, pos);
        const std::size_t end = pos + static_cast<std::size_t>(c.length);
        const bool hit = pred(c.cp);
        if (!hit && !marks.empty() && !marks.back().isMatch)
            marks.back().end = end;
        else
            marks.push_back({pos, end, hit});
        pos = end;
    }
    return marks;
}

/// How a split treats the matched delimiters (Hugging Face SplitDelimiterBehavior).
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

/// Parses "Removed", "Isolated", ...; nullopt for an unknown name.
std::optional<Behavior> parseBehavior(std::string_view name);

/// Turns the marks of one text into piece ranges according to `behavior` (`invert` swaps matches and
/// gaps first). Empty ranges are dropped.
std::vector<std::pair<std::size_t, std::size_t>> applyBehavior(std::vector<Mark> marks, Behavior behavior,
                                                               bool invert = false);

/// GPT-2's bytes_to_unicode(): byte b is written as the code point byteToUnicode()[b] in a byte-level
/// vocabulary (printable Latin-1 bytes map to themselves, the rest to U+0100 and up).
const std::array<char32_t, 256>& byteToUnicode();
/// The inverse of byteToUnicode(): -1 for code points that stand for no byte.
int unicodeToByte(char32_t cp);

} // namespace qs::core::pretok
