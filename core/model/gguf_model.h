// SPDX-License-Identifier: MIT
#pragma once
#include "io/gguf.h"
#include "model/model.h"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

/// A llama-architecture GGUF file seen as a Model with Hugging Face names and layouts: tensors are
/// renamed (blk.N.attn_q.weight -> model.layers.N.self_attn.q_proj.weight, ...), attn_q/attn_k rows are
/// un-permuted from llama.cpp's interleaved RoPE order back to HF's rotate_half order, and block-
/// quantized tensors are dequantized to float32 on access. The config comes from the llama.* metadata.
class GgufModel final : public Model {
public:
    /// Opens and validates `path`; throws Error naming the file and the problem.
    static std::unique_ptr<GgufModel> open(const std::filesystem::path& path);

    const std::filesystem::path& path() const override { return m_path; }
    const ModelConfig& config() const override { return m_config; }
    const std::vector<WeightInfo>& weights() const override { return m_weights; }
    /// Zero-copy view for unpermuted F32/F16/BF16 tensors; an owning tensor otherwise (F32 for block types).
    Tensor weight(const std::string& name) const override;
    /// Q2_K, Q4_K and Q5_K weights as their codes with a scale and a min per sub-block of 16 or 32
    /// (RoPE rows permuted back as weight() does).
    std::optional<CompactMatrix> storedCodes(const std::string& name) const override;

    /// The underlying file.
    const GgufFile& file() const { return m_file; }
    /// The GGUF tensor name of a (HF-named) weight; nullopt when absent.
    std::optional<std::string> ggufName(const std::string& name) const;

private:
    GgufModel() = default;
    /// The head count whose RoPE rows a q/k projection interleaves in the file (0 for other weights).
    int ropeHeads(const std::string& name) const;

    std::filesystem::path m_path;
    GgufFile m_file;
    ModelConfig m_config;
    std::vector<WeightInfo> m_weights;
    std::map<std::string, std::string> m_ggufOf; ///< HF name -> GGUF name
};

/// Maps a llama GGUF tensor name to its Hugging Face name ("blk.3.ffn_up.weight" ->
/// "model.layers.3.mlp.up_proj.weight"); names without a mapping are returned unchanged.
std::string ggufToHfName(const std::string& ggufName);
/// The inverse of ggufToHfName; nullopt for a HF name with no GGUF spelling.
std::optional<std::string> hfToGgufName(const std::string& hfName);

/// Reorders the rows of a q/k projection [nHead*headDim, cols] from HF's rotate_half layout to
/// llama.cpp's interleaved one (toGguf) or back. Each row has `rowBytes` bytes.
void permuteRopeRows(const std::byte* src, std::byte* dst, std::int64_t rows, std::size_t rowBytes, int nHead,
                     bool toGguf);

} // namespace qs::core
