// SPDX-License-Identifier: MIT
#pragma once
#include "model/architecture.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace qs::core {

/// The fields of a Hugging Face config.json the engine needs, normalised across model types
/// (GPT-2's n_embd/n_layer/n_head/n_positions map onto the same fields).
struct ModelConfig {
    std::string modelType; ///< the row's modelType: "llama", "mistral", "qwen2", "gpt2" (architecture.h)
    Architecture arch = Architecture::Llama;
    int hiddenSize = 0;
    int numLayers = 0;
    int numHeads = 0;
    int numKvHeads = 0;
    int headDim = 0;
    int intermediateSize = 0;
    int vocabSize = 0;
    int maxPositions = 0;
    double rmsNormEps = 1e-5; ///< layer_norm_epsilon for GPT-2
    double ropeTheta = 10000.0;
    bool tieWordEmbeddings = false;
    bool attentionBias = false; ///< qwen2 has q/k/v biases
    std::string hiddenAct = "silu";
    nlohmann::json raw; ///< the whole file, for keys not normalised here (rope_scaling, ...)

    /// Parses and validates config.json with the key set and defaults of model_type's row in the
    /// architecture table; throws Error naming the file and the missing/bad key (an unknown model_type:
    /// the supported ones).
    static ModelConfig fromFile(const std::filesystem::path& path);
    static ModelConfig fromJson(const nlohmann::json& j, const std::string& where);
};

} // namespace qs::core
