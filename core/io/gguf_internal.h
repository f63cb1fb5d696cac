// SPDX-License-Identifier: MIT
// Limits and helpers that the GGUF reader (gguf_file_reader.cpp) and writer (gguf_file_writer.cpp) share, so both
// enforce the same limits and word their errors the same way. Not part of the public API (io/gguf.h).
#pragma once
#include "base/error.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace qs::core::gguf_internal {
namespace fs = std::filesystem;

inline constexpr std::uint64_t kMaxDims = 4; // GGML_MAX_DIMS
inline constexpr std::uint64_t kMaxAlignment = 1u << 20;

/// Throws Error naming the file and the problem.
[[noreturn]] inline void fail(const fs::path& path, const std::string& problem) {
    throw Error(path.string() + ": " + problem);
}

/// `x` rounded up to a multiple of `a` (a > 0).
inline std::uint64_t alignUp(std::uint64_t x, std::uint64_t a) {
    return (x + a - 1) / a * a;
}

} // namespace qs::core::gguf_internal
