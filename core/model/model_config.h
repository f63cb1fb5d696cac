// SPDX-License-Identifier: MIT
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace qs::core {

/// Architectures the engine understands. Persisted: append only.
enum class Architecture { Llama = 0, Mistral = 1, Qwen2 = 2, Gpt2 = 3, Onnx = 4 }; ///< Onnx: any ONNX graph (OnnxModel)

/// The fields of a Hugging Face config.json the engine needs, normalised across model types
/// (GPT-2's n_embd/n_layer/n_head/n_positions map onto the same fields).
struct ModelConfig {
    std::string modelType; ///< "llama", "mistral", "qwen2", "gpt2"
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

    /// Parses and validates config.json; throws Error naming the file and the missing/bad key.
    static ModelConfig fromFile(const std::filesystem::path& path);
    static ModelConfig fromJson(const nlohmann::json& j, const std::string& where);
};

} // namespace qs::core
