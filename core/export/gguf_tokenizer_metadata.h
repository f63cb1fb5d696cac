// SPDX-License-Identifier: MIT
#pragma once
#include "io/gguf.h"

#include <filesystem>
#include <vector>

namespace qs::core {

/// llama.cpp's tokenizer.ggml.* metadata for the tokenizer.json of a Hugging Face model directory, so an
/// exported GGUF is self-contained: byte-level BPE becomes model "gpt2" (tokens, token types, merges and
/// the pre-tokenizer name: gpt-2 / llama-bpe / qwen2), SentencePiece-style BPE (Metaspace) becomes model
/// "llama" (tokens, scores = minus the rank of the merge that makes a piece, token types). BOS/EOS/UNK
/// ids come along, and add_bos_token as the tokenizer adds BOS. Returns no keys when the directory has no tokenizer.json; throws Error naming the
/// file for a tokenizer GGUF cannot describe.
std::vector<GgufKv> ggufTokenizerMetadata(const std::filesystem::path& modelDir);

} // namespace qs::core
