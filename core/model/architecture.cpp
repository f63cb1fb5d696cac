// SPDX-License-Identifier: MIT
// The architecture table: one row per architecture, in id order. A variant of an existing
// architecture (other defaults, biases, a sliding window) is one more row; tests loop over the table.
#include "model/architecture.h"

#include <array>

namespace qs::core {
namespace {

constexpr SlidingWindowKeys kFullAttention{nullptr, nullptr, nullptr};

// Hugging Face Llama-family checkpoints (LlamaForCausalLM and the models that copy its names).
constexpr NameRule kLlamaLayerRules[] = {
    {"*norm.weight", WeightRole::Norm}, // input_layernorm, post_attention_layernorm, q_norm, ...
    {"*.bias", WeightRole::Bias},
};
constexpr NameRule kLlamaOtherRules[] = {
    {"*.bias", WeightRole::Bias},
    {"*norm.weight", WeightRole::Norm}, // model.norm
};
constexpr WeightNames kLlamaNames{
    .optionalPrefix = "",
    .head = "lm_head.weight",
    .embed = "model.embed_tokens.weight",
    .positions = "",
    .finalNorm = "model.norm",
    .layerPrefix = "model.layers.",
    .attnNorm = "input_layernorm",
    .mlpNorm = "post_attention_layernorm",
    .qkv = "",
    .q = "self_attn.q_proj",
    .k = "self_attn.k_proj",
    .v = "self_attn.v_proj",
    .o = "self_attn.o_proj",
    .gate = "mlp.gate_proj",
    .up = "mlp.up_proj",
    .down = "mlp.down_proj",
    .layerRules = kLlamaLayerRules,
    .otherRules = kLlamaOtherRules,
};

// GPT2LMHeadModel saves "transformer."-prefixed names, GPT2Model bare ones; both open.
constexpr NameRule kGpt2LayerRules[] = {
    {"ln_*", WeightRole::Norm},       // ln_1, ln_2: weights and biases
    {"attn.bias", WeightRole::Other}, // causal-mask buffers of old checkpoints, not parameters
    {"attn.masked_bias", WeightRole::Other},
    {"*.bias", WeightRole::Bias},
};
constexpr NameRule kGpt2OtherRules[] = {
    {"ln_f.*", WeightRole::Norm},
    {"*.bias", WeightRole::Bias},
};
constexpr WeightNames kGpt2Names{
    .optionalPrefix = "transformer.",
    .head = "lm_head.weight",
    .embed = "wte.weight",
    .positions = "wpe.weight",
    .finalNorm = "ln_f",
    .layerPrefix = "h.",
    .attnNorm = "ln_1",
    .mlpNorm = "ln_2",
    .qkv = "attn.c_attn",
    .q = "",
    .k = "",
    .v = "",
    .o = "attn.c_proj",
    .gate = "",
    .up = "mlp.c_fc",
    .down = "mlp.c_proj",
    .layerRules = kGpt2LayerRules,
    .otherRules = kGpt2OtherRules,
};

// Defaults are those of the Hugging Face config classes.
constexpr std::array kArchitectures{
    ArchitectureTraits{
        .id = Architecture::Llama,
        .modelType = "llama",
        .displayName = "Llama",
        .hfClass = "LlamaForCausalLM",
        .configKeys = ConfigKeys::Llama,
        .defaultMaxPositions = 2048,
        .defaultNormEps = 1e-6,
        .defaultActivation = "silu",
        .tiedEmbeddings = {"tie_word_embeddings", false},
        .attentionBias = {"attention_bias", false}, // Llama may declare q/k/v/o biases
        .slidingWindow = kFullAttention,
        .decoderOnly = true,
        .norm = NormKind::Rms,
        .positions = PositionKind::Rope,
        .transposedLinears = false,
        .names = kLlamaNames,
        .ggufArch = "llama",
        .transformBlocker = "",
    },
    ArchitectureTraits{
        .id = Architecture::Mistral,
        .modelType = "mistral",
        .displayName = "Mistral",
        .hfClass = "MistralForCausalLM",
        .configKeys = ConfigKeys::Llama,
        .defaultMaxPositions = 131072,
        .defaultNormEps = 1e-6,
        .defaultActivation = "silu",
        .tiedEmbeddings = {"tie_word_embeddings", false},
        .attentionBias = {nullptr, false},
        .slidingWindow = {"sliding_window", nullptr, nullptr}, // every layer
        .decoderOnly = true,
        .norm = NormKind::Rms,
        .positions = PositionKind::Rope,
        .transposedLinears = false,
        .names = kLlamaNames,
        .ggufArch = "llama", // llama.cpp stores Mistral as llama
        .transformBlocker = "",
    },
    ArchitectureTraits{
        .id = Architecture::Qwen2,
        .modelType = "qwen2",
        .displayName = "Qwen2",
        .hfClass = "Qwen2ForCausalLM",
        .configKeys = ConfigKeys::Llama,
        .defaultMaxPositions = 32768,
        .defaultNormEps = 1e-6,
        .defaultActivation = "silu",
        .tiedEmbeddings = {"tie_word_embeddings", false},
        .attentionBias = {nullptr, true}, // Qwen2 always has q/k/v biases; its config has no switch
        .slidingWindow = {"sliding_window", "use_sliding_window", "max_window_layers"},
        .decoderOnly = true,
        .norm = NormKind::Rms,
        .positions = PositionKind::Rope,
        .transposedLinears = false,
        .names = kLlamaNames,
        .ggufArch = "", // llama.cpp's qwen2 is its own architecture; our GGUF code writes llama only
        .transformBlocker = "",
    },
    ArchitectureTraits{
        .id = Architecture::Gpt2,
        .modelType = "gpt2",
        .displayName = "GPT-2",
        .hfClass = "GPT2LMHeadModel",
        .configKeys = ConfigKeys::Gpt2,
        .defaultMaxPositions = 1024,
        .defaultNormEps = 1e-5,
        .defaultActivation = "gelu_new",
        .tiedEmbeddings = {nullptr, true}, // GPT-2's lm_head is always wte
        .attentionBias = {nullptr, true},  // c_attn / c_proj carry biases
        .slidingWindow = kFullAttention,
        .decoderOnly = true,
        .norm = NormKind::LayerNorm,
        .positions = PositionKind::Learned,
        .transposedLinears = true, // Conv1D stores [in, out]
        .names = kGpt2Names,
        .ggufArch = "",
        .transformBlocker = "LayerNorm with mean and bias, fused c_attn",
    },
    ArchitectureTraits{
        .id = Architecture::Onnx,
        .modelType = "onnx",
        .displayName = "ONNX",
        .hfClass = "",
        .configKeys = ConfigKeys::None, // OnnxModel reads the graph, not a config.json
        .defaultMaxPositions = 0,
        .defaultNormEps = 0.0,
        .defaultActivation = "",
        .tiedEmbeddings = {nullptr, false},
        .attentionBias = {nullptr, false},
        .slidingWindow = kFullAttention,
        .decoderOnly = false, // OnnxModel classifies its own weights from the graph
        .norm = NormKind::Rms,
        .positions = PositionKind::Rope,
        .transposedLinears = false,
        .names = {},
        .ggufArch = "",
        .transformBlocker = "an ONNX graph, not a decoder-only language model",
    },
};

// The table must stay in id order so architectureTraits() can index it.
constexpr bool inIdOrder() {
    for (std::size_t i = 0; i < kArchitectures.size(); ++i)
        if (static_cast<std::size_t>(kArchitectures[i].id) != i) return false;
    return true;
}
static_assert(inIdOrder(), "architecture table rows must be in Architecture order");

} // namespace

std::span<const ArchitectureTraits> architectureTable() { return kArchitectures; }

const ArchitectureTraits& architectureTraits(Architecture id) {
    return kArchitectures.at(static_cast<std::size_t>(id));
}

const ArchitectureTraits* findArchitecture(std::string_view modelType) {
    for (const auto& a : kArchitectures)
        if (a.modelType == modelType) return &a;
    return nullptr;
}

const ArchitectureTraits* findGgufArchitecture(std::string_view ggufArch) {
    if (ggufArch.empty()) return nullptr;
    for (const auto& a : kArchitectures)
        if (a.ggufArch == ggufArch) return &a;
    return nullptr;
}

std::string supportedModelTypes() {
    std::string s;
    for (const auto& a : kArchitectures)
        if (a.configKeys != ConfigKeys::None) s += (s.empty() ? "" : ", ") + std::string(a.modelType);
    return s;
}

std::string supportedGgufArchitectures() {
    std::string s;
    for (const auto& a : kArchitectures)
        if (!a.ggufArch.empty() && findGgufArchitecture(a.ggufArch) == &a)
            s += (s.empty() ? "" : ", ") + std::string(a.ggufArch);
    return s;
}

} // namespace qs::core
