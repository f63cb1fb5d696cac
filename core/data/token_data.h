// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qs::core {

/// Evaluation data as token ids: a token-id .npy (int32/int64, any shape, C order) or UTF-8 text
/// encoded with the tokenizer of `model` (a model directory or .gguf file, as Model::path()) as one
/// string (no BOS). `source` describes what was read.
/// Throws Error naming the file for wrong dtypes, out-of-range ids or a missing tokenizer.
std::vector<std::int32_t> readTokenData(const std::filesystem::path& file, const std::filesystem::path& model,
                                        std::string& source);

} // namespace qs::core
