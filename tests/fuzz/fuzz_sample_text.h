// SPDX-License-Identifier: MIT
// A text that walks a loaded tokenizer through its paths: spaces runs, digits, punctuation, newlines,
// multi-byte UTF-8, a character outside any tiny vocabulary and an invalid byte.
#pragma once
#include "tokenizer/tokenizer.h"

#include <string_view>

namespace qs::fuzz {

inline constexpr std::string_view kSampleText =
    "Hello  world!\n\tIn the beginning 1234 e=mc^2 <|endoftext|> caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80 \xFF end ";

/// Encodes the sample text, decodes it back and looks up every id's piece.
inline void exercise(const core::Tokenizer& tok) {
    const auto ids = tok.encode(kSampleText);
    tok.decode(ids);
    for (auto id : ids) tok.tokenId(tok.tokenPiece(id));
    tok.description();
}

} // namespace qs::fuzz
