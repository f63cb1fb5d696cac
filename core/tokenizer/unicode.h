// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

// The little Unicode a tokenizer needs: UTF-8 decoding that never throws, the general-category
// classes of the pre-tokenizer regexes (\p{L}, \p{N}, \s) and NFC. Tables come from the UCD
// (unicode_tables.cpp, generated).
namespace qs::core::unicode {

/// One decoded UTF-8 character: its code point and its length in bytes.
struct Utf8Char {
    char32_t cp;
    int length;
};

/// Code point used for a byte that does not start a valid UTF-8 sequence (it is consumed alone).
inline constexpr char32_t kInvalid = 0xFFFD;

/// Decodes the character starting at byte `pos` (< text.size()). Malformed, overlong, surrogate or
/// truncated sequences decode as {kInvalid, 1}, so every byte is covered exactly once.
Utf8Char decodeUtf8(std::string_view text, std::size_t pos);

/// Appends the UTF-8 encoding of `cp` (a valid scalar value) to `out`.
void appendUtf8(std::string& out, char32_t cp);

/// True for general category L* (Lu, Ll, Lt, Lm, Lo): the regex class \p{L}.
bool isLetter(char32_t cp);
/// True for general category N* (Nd, Nl, No): the regex class \p{N}.
bool isNumber(char32_t cp);
/// True for the White_Space property: the Unicode regex class \s.
bool isWhitespace(char32_t cp);

/// Canonical combining class (0 for starters and unassigned code points).
int combiningClass(char32_t cp);

/// Unicode Normalization Form C of UTF-8 text. Bytes that are not valid UTF-8 are kept as they are.
std::string nfc(std::string_view text);

} // namespace qs::core::unicode
