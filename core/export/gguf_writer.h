// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"
#include "io/gguf.h"
#include "model/model.h"

#include <filesystem>
#include <map>
#include <string>

namespace qs::core {

/// Which GGUF type each weight is written in.
struct GgufExportOptions {
    /// Type of every 2-D weight (linears, embeddings, head): F32, F16, BF16, Q8_0 or Q4_0. A matrix whose
    /// row length is not a multiple of the type's block size falls back to F16.
    GgufType matrixType = GgufType::F16;
    /// Per-weight overrides by Hugging Face name (no fallback: an impossible choice throws Error).
    std::map<std::string, GgufType> perTensor;
};

/// Writes a Llama-family model (llama, mistral) as a llama GGUF v3 file: llama.* metadata from the
/// config, tensors renamed to llama.cpp names, q/k rows permuted to llama.cpp's interleaved RoPE layout,
/// 1-D weights (norms) in F32, matrices as chosen in `options` (quantized with ggml's reference
/// quantizers), plus the tokenizer as tokenizer.ggml.* metadata (ggufTokenizerMetadata) when the source
/// directory has a tokenizer.json. Written atomically. Throws Error naming `path` for
/// another architecture or a weight with no GGUF name. `job` reports one step per tensor and can cancel.
void writeGgufModel(const Model& src, const std::filesystem::path& path,
                    const GgufExportOptions& options = {}, const JobContext& job = {});

} // namespace qs::core
