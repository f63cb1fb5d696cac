// SPDX-License-Identifier: MIT
#pragma once
#include "model/model_config.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// Rotary position embedding of the Hugging Face Llama family, "rotate_half" convention: element i of
/// a head is paired with element i + headDim/2 (not the interleaved GPT-J pairs).
/// Supported `rope_scaling` types (key "rope_type" or the older "type"): none/"default", "linear",
/// "dynamic" (NTK, depends on the sequence length), "llama3" and "yarn", with the formulas of
/// transformers' modeling_rope_utils.py.
class Rope {
public:
    Rope() = default;
    /// Reads rope_theta, head_dim and rope_scaling from `config`; throws Error for an unknown or
    /// malformed rope_scaling.
    explicit Rope(const ModelConfig& config);

    /// Inverse frequencies (headDim/2 values, float32 as HF computes them) for a sequence of
    /// `seqLen` tokens (only "dynamic" depends on it).
    std::vector<float> inverseFrequencies(std::int64_t seqLen) const;
    /// cos/sin of every position and frequency, computed once per sequence and shared by all layers.
    struct Table {
        std::vector<float> cos; ///< [seqLen, headDim/2], attention factor included
        std::vector<float> sin;
    };
    /// The table of positions 0..seqLen-1.
    Table table(std::int64_t seqLen) const;
    /// Rotates every head of `x` ([seqLen, numHeads*headDim], row-major, positions 0..seqLen-1) in place.
    void apply(const Table& t, float* x, std::int64_t seqLen, int numHeads) const;
    /// Same, computing the table first.
    void apply(float* x, std::int64_t seqLen, int numHeads) const {
        apply(table(seqLen), x, seqLen, numHeads);
    }

    /// "default", "linear", "dynamic", "llama3" or "yarn".
    const std::string& type() const { return m_type; }
    /// Factor cos/sin are multiplied by (1 except for yarn).
    float attentionFactor() const { return m_attentionFactor; }

private:
    std::vector<float> defaultInverse(double base) const;

    std::string m_type = "default";
    int m_headDim = 0;
    double m_theta = 10000.0;
    double m_factor = 1.0;
    int m_maxPositions = 0;       ///< max_position_embeddings (dynamic)
    std::vector<float> m_inverse; ///< inverse frequencies for every type except dynamic
    float m_attentionFactor = 1.0f;
};

} // namespace qs::core
