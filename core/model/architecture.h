// SPDX-License-Identifier: MIT
#pragma once
#include "model/weight_role.h"

#include <span>
#include <string>
#include <string_view>

namespace qs::core {

/// Architectures the engine understands. Persisted: append only.
enum class Architecture { Llama = 0, Mistral = 1, Qwen2 = 2, Gpt2 = 3, Onnx = 4 }; ///< Onnx: any ONNX graph (OnnxModel)

/// Which config.json keys hold the sizes: one family of Hugging Face config classes. Decides which
/// parser ModelConfig::fromJson runs; the row's defaults fill what the file leaves out.
enum class ConfigKeys {
    None,  ///< not read from a config.json (ONNX graphs carry no such file)
    Llama, ///< hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
           ///< intermediate_size, max_position_embeddings, rms_norm_eps, rope_theta, hidden_act
    Gpt2,  ///< n_embd, n_layer, n_head, n_inner (absent: 4 n_embd), n_positions, layer_norm_epsilon,
           ///< activation_function; no GQA, no head_dim, no rope_theta
};

/// The normalisation before attention, before the MLP and at the end.
enum class NormKind {
    Rms,       ///< weight * x / rms(x): no mean, no bias
    LayerNorm, ///< (x - mean) / std * weight + bias: "<name>.bias" is required
};

/// How token positions enter the model.
enum class PositionKind {
    Rope,    ///< rotary embedding of q and k (rope_theta, rope_scaling)
    Learned, ///< a learned table (WeightNames::positions) added to the token embedding
};

/// A boolean config.json key and its default; without a key the value is fixed by the architecture.
struct ConfigSwitch {
    const char* key; ///< nullptr: not read, always `value`
    bool value;      ///< the value when the key is absent or null
};

/// The config.json keys that turn on sliding-window attention; all nullptr: full causal attention.
/// Malformed values read as 0 (no window / from layer 0), as the forward pass always did.
struct SlidingWindowKeys {
    const char* size;       ///< window length in tokens (null, absent or 0: no window)
    const char* enabled;    ///< a boolean that must be true for any window; nullptr: none needed
    const char* firstLayer; ///< first decoder layer with the window; nullptr: every layer
};

/// Weights whose name matches `pattern` get `role`. `*` matches any run of characters, dots included;
/// nothing else is special.
struct NameRule {
    std::string_view pattern;
    WeightRole role;
};

/// The weight names of a decoder-only model in its Hugging Face checkpoints. Names inside decoder
/// block N are layerPrefix + N + "." + name; Linears and norms are given without ".weight" (their
/// ".bias" sits beside them). Every name but `head` may carry `optionalPrefix`.
struct WeightNames {
    std::string_view optionalPrefix; ///< "transformer." when checkpoints may or may not carry it, else ""
    std::string_view head;           ///< the untied LM head, full name (never prefixed)
    std::string_view embed;          ///< token embedding, with ".weight"
    std::string_view positions;      ///< learned positions with ".weight" (PositionKind::Learned), else ""
    std::string_view finalNorm;      ///< the norm before the head
    std::string_view layerPrefix;    ///< "model.layers."
    std::string_view attnNorm;       ///< the norm feeding attention
    std::string_view mlpNorm;        ///< the norm feeding the MLP
    std::string_view qkv;            ///< fused [q | k | v] projection; "" when q, k, v are separate
    std::string_view q, k, v;        ///< separate projections; "" when fused
    std::string_view o;              ///< attention output projection
    std::string_view gate;           ///< gate of a gated MLP, act(gate) * up; "" for act(up)
    std::string_view up, down;       ///< MLP projections
    /// Roles of the other names inside a block (what follows "layerPrefix N."), first match wins;
    /// no match: WeightRole::Other (the name still gets the block's index).
    std::span<const NameRule> layerRules;
    /// Roles of the other names outside blocks (after optionalPrefix is removed), first match wins;
    /// no match: WeightRole::Other.
    std::span<const NameRule> otherRules;
};

/// One row of the architecture table: what the engine knows about an architecture. Generic code
/// (config parsing, weight classification, the forward pass, transforms, GGUF) reads these fields
/// and never switches on the id; a variant of an existing architecture is one more row.
struct ArchitectureTraits {
    Architecture id;                    ///< persisted id
    std::string_view modelType;         ///< config.json's model_type, and ModelConfig::modelType
    std::string_view displayName;       ///< in messages: "Llama", "GPT-2"
    std::string_view hfClass;           ///< transformers class for config.json's "architectures"
    ConfigKeys configKeys;              ///< config.json key set; None: not opened from a config.json
    int defaultMaxPositions;            ///< max_position_embeddings / n_positions when absent
    double defaultNormEps;              ///< rms_norm_eps / layer_norm_epsilon when absent
    std::string_view defaultActivation; ///< hidden_act / activation_function when absent
    ConfigSwitch tiedEmbeddings;        ///< ModelConfig::tieWordEmbeddings: the head is the embedding
    ConfigSwitch attentionBias;         ///< ModelConfig::attentionBias (informational: the forward
                                        ///< pass adds every "<linear>.bias" the checkpoint has)
    SlidingWindowKeys slidingWindow;    ///< where config.json turns on windowed attention
    bool decoderOnly;                   ///< CausalLm runs it; false: the fields below are unused
    NormKind norm;                      ///< every norm of the model
    PositionKind positions;             ///< rotary or learned positions
    bool transposedLinears;             ///< block Linears stored [in, out] (GPT-2 Conv1D), not [out, in]
    WeightNames names;                  ///< checkpoint names; classifyWeight and CausalLm read them
    std::string_view ggufArch;          ///< general.architecture our GGUF reader and writer use
                                        ///< ("llama"), "" when they do not handle the model
    /// Why the basis-change transforms (rotate, smoothquant, resq) cannot change the model exactly,
    /// for their error message; "" when they can (RMSNorm, separate q/k/v, gated MLP, [out, in]).
    std::string_view transformBlocker;

    /// Whether the basis-change transforms apply.
    bool transformsApply() const { return transformBlocker.empty(); }
};

/// The whole table, in id order.
std::span<const ArchitectureTraits> architectureTable();
/// Row of an id (every id has one).
const ArchitectureTraits& architectureTraits(Architecture id);
/// Row by model type ("llama"); nullptr when unknown. Rows with ConfigKeys::None ("onnx") are found
/// too: callers that read config.json check configKeys.
const ArchitectureTraits* findArchitecture(std::string_view modelType);
/// The row a GGUF general.architecture opens as (the first row naming it, e.g. "llama" -> Llama);
/// nullptr when none does.
const ArchitectureTraits* findGgufArchitecture(std::string_view ggufArch);
/// The model types a config.json may name, in table order: "llama, mistral, qwen2, gpt2".
std::string supportedModelTypes();
/// The GGUF architectures the GGUF reader opens, each once, in table order: "llama".
std::string supportedGgufArchitectures();

} // namespace qs::core
