// SPDX-License-Identifier: MIT
// llama-perplexity's evaluation protocol (llama.cpp tools/perplexity), so our numbers sit beside theirs.
#pragma once
#include "data/windows.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

/// A token stream cut as llama-perplexity cuts it.
struct LlamaCppChunks {
    std::vector<std::int32_t> tokens; ///< chunks * ctx tokens, each chunk's first token BOS when added
    EvalOptions opts;                 ///< ctx, maxWindows = chunks, scoreFrom = ctx/2 + 1
};

/// llama-perplexity's chunks of `stream` (the text's tokens, BOS first when the tokenizer adds one):
/// floor(size / ctx) chunks of ctx tokens (at most opts.maxWindows), each an independent sequence
/// whose first token is replaced by `bos` when given; only tokens ctx/2 + 1 .. ctx - 1 of a chunk are
/// scored. Throws Error, as llama-perplexity refuses, when the stream holds fewer than 2 * ctx tokens.
LlamaCppChunks llamaCppChunks(std::span<const std::int32_t> stream, std::optional<std::int32_t> bos,
                              const EvalOptions& opts);

/// Evaluation data read as llama-perplexity reads it: text (one trailing newline removed) tokenized
/// with the tokenizer of `model`, BOS first when that tokenizer adds one (`bos` is then set); a
/// token-id .npy is taken as it is. `source` describes what was read.
std::vector<std::int32_t> readLlamaCppTokens(const std::filesystem::path& file, const std::filesystem::path& model,
                                             std::string& source, std::optional<std::int32_t>& bos);

} // namespace qs::core
