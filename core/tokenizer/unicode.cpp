// SPDX-License-Identifier: MIT
#include "tokenizer/unicode.h"

#include "tokenizer/unicode_tables.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace qs::core::unicode {
namespace {

using namespace unicode_tables;

bool inRanges(const CodeRange* ranges, std::size_t count, char32_t cp) {
    const CodeRange* end = ranges + count;
    const CodeRange* it =
        std::upper_bound(ranges, end, cp, [](char32_t c, const CodeRange& r) { return c < r.first; });
    return it != ranges && cp <= (it - 1)->last;
}

// Hangul syllables compose and decompose algorithmically (Unicode 15, section 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

// Bytes that are not valid UTF-8 travel through NFC as these private values (above U+10FFFF), so
// they come out unchanged and never compose.
constexpr char32_t kRawByteBase = 0x110000;

void decomposeInto(char32_t cp, std::vector<char32_t>& out) {
    if (cp >= kSBase && cp < kSBase + kSCount) {
        const char32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
        return;
    }
    const Decomposition* end = kDecompositions + kDecompositionsCount;
    const Decomposition* it = std::lower_bound(kDecompositions, end, cp,
                                               [](const Decomposition& d, char32_t c) { return d.cp < c; });
    if (it == end || it->cp != cp) {
        out.push_back(cp);
        return;
    }
    decomposeInto(it->first, out);
    if (it->second != 0) decomposeInto(it->second, out);
}

// The primary composite of a starter and a following character, or 0.
char32_t compose(char32_t a, char32_t b) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
        b < kTBase + kTCount)
        return a + (b - kTBase);
    const Composition* end = kCompositions + kCompositionsCount;
    const Composition* it =
        std::lower_bound(kCompositions, end, std::pair{a, b}, [](const Composition& c, auto key) {
            return c.first < key.first || (c.first == key.first && c.second < key.second);
        });
    return (it != end && it->first == a && it->second == b) ? it->composite : 0;
}

} // namespace

Utf8Char decodeUtf8(std::string_view text, std::size_t pos) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char b0 = byte(pos);
    if (b0 < 0x80) return {b0, 1};
    const std::size_t left = text.size() - pos;
    const auto cont = [&](std::size_t i) { return (byte(pos + i) & 0xC0) == 0x80; };
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (left >= 2 && cont(1)) return {char32_t((b0 & 0x1F) << 6 | (byte(pos + 1) & 0x3F)), 2};
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (left >= 3 && cont(1) && cont(2)) {
            const unsigned char b1 = byte(pos + 1);
            // Reject overlong forms (E0 80..9F) and surrogates (ED A0..BF).
            if (!(b0 == 0xE0 && b1 < 0xA0) && !(b0 == 0xED && b1 >= 0xA0))
                return {char32_t((b0 & 0x0F) << 12 | (b1 & 0x3F) << 6 | (byte(pos + 2) & 0x3F)), 3};
        }
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (left >= 4 && cont(1) && cont(2) && cont(3)) {
            const unsigned char b1 = byte(pos + 1);
            if (!(b0 == 0xF0 && b1 < 0x90) && !(b0 == 0xF4 && b1 >= 0x90))
                return {char32_t((b0 & 0x07) << 18 | (b1 & 0x3F) << 12 | (byte(pos + 2) & 0x3F) << 6 |
                                 (byte(pos + 3) & 0x3F)),
                        4};
        }
    }
    return {kInvalid, 1};
}

void appendUtf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool isLetter(char32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return inRanges(kLetters, kLettersCount, cp);
}

bool isNumber(char32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return inRanges(kNumbers, kNumbersCount, cp);
}

bool isWhitespace(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return inRanges(kWhiteSpace, kWhiteSpaceCount, cp);
}

int combiningClass(char32_t cp) {
    const CombiningClassRun* end = kCombiningClasses + kCombiningClassesCount;
    const CombiningClassRun* it = std::upper_bound(
        kCombiningClasses, end, cp, [](char32_t c, const CombiningClassRun& r) { return c < r.first; });
    return (it != kCombiningClasses && cp <= (it - 1)->last) ? (it - 1)->ccc : 0;
}

std::string nfc(std::string_view text) {
    // ASCII neither decomposes nor composes: ASCII-only text (the common case) is already in NFC.
    if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
        return std::string(text);

    // 1. Full canonical decomposition.
    std::vector<char32_t> cps;
    cps.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const Utf8Char c = decodeUtf8(text, pos);
        if (c.cp == kInvalid && c.length == 1) // a real U+FFFD is 3 bytes long
            cps.push_back(kRawByteBase + static_cast<unsigned char>(text[pos]));
        else
            decomposeInto(c.cp, cps);
        pos += static_cast<std::size_t>(c.length);
    }
    // 2. Canonical ordering: stable-sort each run of non-starters by combining class.
    for (std::size_t i = 0; i < cps.size();) {
        if (cps[i] >= kRawByteBase || combiningClass(cps[i]) == 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < cps.size() && cps[j] < kRawByteBase && combiningClass(cps[j]) != 0)
            ++j;
        std::stable_sort(cps.begin() + i, cps.begin() + j,
                         [](char32_t a, char32_t b) { return combiningClass(a) < combiningClass(b); });
        i = j;
    }
    // 3. Canonical composition: a character joins the last starter unless a character between them
    // is a starter or has a class >= its own (it is "blocked").
    std::vector<char32_t> out;
    out.reserve(cps.size());
    std::ptrdiff_t starter = -1;
    int lastClass = 0;
    for (char32_t cp : cps) {
        const int cc = cp >= kRawByteBase ? 0 : combiningClass(cp);
        if (starter >= 0 && cp < kRawByteBase) {
            const bool adjacent = starter == static_cast<std::ptrdiff_t>(out.size()) - 1;
            if (adjacent || (lastClass != 0 && lastClass < cc)) {
                if (const char32_t composite = compose(out[static_cast<std::size_t>(starter)], cp)) {
                    out[static_cast<std::size_t>(starter)] = composite;
                    continue;
                }
            }
        }
        out.push_back(cp);
        lastClass = cc;
        if (cc == 0) starter = cp >= kRawByteBase ? -1 : static_cast<std::ptrdiff_t>(out.size()) - 1;
    }
    std::string result;
    result.reserve(text.size());
    for (char32_t cp : out) {
        if (cp >= kRawByteBase)
            result += static_cast<char>(cp - kRawByteBase);
        else
            appendUtf8(result, cp);
    }
    return result;
}

} // namespace qs::core::unicode
