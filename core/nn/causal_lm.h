// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"
#include "model/model.h"
#include "nn/rope.h"
#include "quant/quant_spec.h"

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

/// Row-major float32 matrix: activations [tokens, features] and logits [tokens, vocab].
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Optional fake quantization inside the forward pass (both off by default).
struct ForwardHooks {
    /// Applied to the input of every decoder Linear, as a [tokens, in_features] matrix: rows are
    /// tokens, so granularity "token" (or "channel") means one scale per token, "group" groups of
    /// features of one token, "tensor" one scale for the whole activation. q/k/v (and gate/up) share one
    /// input, quantized once. The LM head is not a decoder Linear and sees full-precision input.
    std::optional<QuantSpec> activation;
    /// Applied to K (after RoPE, as a KV cache stores it) and V of every layer, as a
    /// [tokens * kv_heads, head_dim] matrix: "token" (or "channel") means one scale per token and KV head.
    std::optional<QuantSpec> kvCache;
    /// Changes the basis of each decoder Linear input x [tokens, in_features] in place (rotations,
    /// smoothing; `site` indexes layerSites(layer)). Runs first, before the activation quantization
    /// and the observer, so the site's weights must be stored in the same basis. Must be thread-safe.
    std::function<void(int layer, int site, RowMatrixF& x)> siteTransform;
    /// The adjoint of siteTransform (x -> x·Qᵀ where siteTransform is x -> x·Q), for the backward pass,
    /// which refuses a siteTransform without one. Unused by the forward pass.
    std::function<void(int layer, int site, RowMatrixF& x)> siteTransformTranspose;
    /// When set, fake-quantizes each site input instead of `activation` (e.g. mixed-precision subspaces).
    std::function<void(int layer, int site, RowMatrixF& x)> siteQuantize;
    /// When set, fake-quantizes K (after RoPE) and V [tokens * kv_heads, head_dim] instead of `kvCache`
    /// (e.g. rotate each head, quantize, rotate back: scores and outputs keep the original basis).
    std::function<void(int layer, RowMatrixF& k, RowMatrixF& v)> kvQuantize;
    /// Sees each attention head's probabilities [seq, seq] after the softmax (row i: query i over keys
    /// 0..i, masked keys 0; entries above the diagonal are unspecified), by layer and query head. Called from the threads running the heads: must
    /// be thread-safe across heads.
    std::function<void(int layer, int head, const RowMatrixF& probabilities)> attentionObserver;
    /// Sparse attention by spans: when not empty, attentionSpans[layer][head] = s > 0 lets each query
    /// of that head see only the first `attentionSinks` keys and its s most recent keys (itself
    /// included); 0 (or a span covering the context) keeps full attention, computed exactly as without.
    std::vector<std::vector<int>> attentionSpans;
    int attentionSinks = 0;
    /// Runs every decoder Linear and the LM head on bfloat16 operands with float32 sums
    /// (tensor/gemm_bf16.h), as bf16 inference does: each product's input rounded to bf16 (to nearest
    /// even), each weight once (by setHooks for the weights held then, else on first use), its bf16
    /// copy kept beside the held weight while that lives (counted in peakWeightBytes). On AMX-BF16
    /// tiles where the processor has them. Attention, norms and the rest stay float32. The backward
    /// pass refuses it.
    bool bf16Products = false;
};

/// One distinct input of a decoder layer's Linears: q/k/v (GPT-2: the fused c_attn) share one input,
/// gate/up share one, o_proj and down_proj have their own.
struct LinearInputSite {
    std::string name;                 ///< the first fed weight without ".weight", e.g. "model.layers.0.self_attn.q_proj"
    std::vector<std::string> weights; ///< full names of every weight this input feeds, in the model's naming
};

/// Sees the input of each site of a layer as [tokens, in_features] (after activation hooks), in the
/// order of CausalLm::layerSites(). Called on the thread running the layer.
using LinearInputObserver = std::function<void(int layer, const LinearInputSite& site, const RowMatrixF& input)>;

/// Splits `parts` sequences of one length stacked by rows into a matrix each.
std::vector<RowMatrixF> unstackRows(RowMatrixF stacked, std::size_t parts);
/// The matrices (of one shape) stacked by rows, in order: unstackRows' inverse.
RowMatrixF stackRows(std::span<const RowMatrixF> parts);

/// Float32 causal language model forward pass (batch 1, no KV cache across calls) with Hugging Face
/// semantics for Llama / Mistral / Qwen2 (RMSNorm, RoPE, GQA, SiLU-gated MLP, optional Linear biases,
/// tied or untied head) and GPT-2 (learned positions, LayerNorm, Conv1D weights, fused c_attn,
/// gelu_new, tied head). Weights are converted to float32 once, except Linear weights stored in BF16 or
/// binary16 (and not replaced), which stay in their 16 bits and are converted, exactly, as each
/// product packs them: the same numbers for half the memory. A const CausalLm may be used by
/// several threads at once. A model made with layerByLayer() holds a decoder layer's float32 weights
/// only between loadLayer() and releaseLayer(), for models whose float32 size exceeds the memory.
class CausalLm {
public:
    /// Loads every weight the forward pass needs from `model` as float32 (progress per layer).
    /// `replaced` overrides weights by name (float32, in the model's stored layout, e.g. the output of
    /// quantizeModel); its vectors are moved in, not copied. Throws Error for an unsupported
    /// architecture, a missing weight, a size mismatch or a replaced name the forward pass never reads.
    explicit CausalLm(const Model& model, std::map<std::string, std::vector<float>> replaced = {},
                      const JobContext& ctx = {});
    /// A model sharing every weight of `base` except those in `replaced` (same rules as above): a
    /// quantized variant costs only the memory of its replaced weights. Replacing one layer's Linears
    /// this way is how the layer-sequential driver reruns that layer with quantized weights.
    CausalLm(const CausalLm& base, std::map<std::string, std::vector<float>> replaced);

    /// A model whose decoder layers hold no float32 weights until loadLayer(): only the embedding,
    /// learned positions, final norm and head are converted now (every layer's weights are checked
    /// for presence and shape now, without converting them). `model` must outlive the result; its
    /// memory-mapped weights are read again at each loadLayer(). Throws Error as the constructor does.
    static CausalLm layerByLayer(const Model& model);

    CausalLm(const CausalLm&) = delete;
    CausalLm& operator=(const CausalLm&) = delete;
    /// Moves the weights (shared buffers stay shared).
    CausalLm(CausalLm&&) noexcept;
    /// Moves the weights (shared buffers stay shared).
    CausalLm& operator=(CausalLm&&) noexcept;
    /// Releases this instance's references to the weights.
    ~CausalLm();

    /// The configuration the model was built from.
    const ModelConfig& config() const;
    /// Vocabulary size = number of logits per token.
    int vocabSize() const;

    /// Sets the activation / KV-cache quantization hooks.
    void setHooks(const ForwardHooks& hooks);
    /// The current hooks.
    const ForwardHooks& hooks() const;

    /// Logits [ids.size(), vocab] of one sequence at positions 0..n-1. With `hiddenStates`, also the
    /// residual stream: the embedding output, then the output of every decoder layer (before the
    /// final norm), numLayers + 1 matrices [n, hidden]. Throws Error for an empty sequence, a token
    /// id outside the vocabulary, (GPT-2) more tokens than learned positions, or a layer that is not
    /// loaded (layerByLayer()).
    /// Threads: a sequence with seq * hidden^2 >= 2^24 multiply-adds per projection uses the OpenMP
    /// threads (matrix products, attention heads); a smaller one runs on the calling thread, where
    /// per-product thread wake-ups would cost more than they save on a shared machine.
    RowMatrixF forward(std::span<const std::int32_t> ids,
                       std::vector<RowMatrixF>* hiddenStates = nullptr) const;

    /// Logits of several sequences of one length, each [n, vocab] with the bits forward() gives it:
    /// their tokens go through each Linear as one matrix product (the products' sums do not depend on
    /// the rows beside them), while attention, RoPE and every hook run on one sequence at a time.
    /// Throws Error as forward() does, or when the lengths differ.
    std::vector<RowMatrixF> forwardBatch(std::span<const std::span<const std::int32_t>> windows) const;

    /// Layer-by-layer execution (forward() = embed, runLayer for every layer, logits), for calibration
    /// and layer-sequential quantization that must not hold every layer's activations.
    /// Number of decoder layers.
    int numLayers() const;
    /// The distinct Linear inputs of decoder layer `layer`, in execution order.
    std::vector<LinearInputSite> layerSites(int layer) const;
    /// Embedding output (plus learned positions) [ids.size(), hidden]; throws Error as forward() does.
    RowMatrixF embed(std::span<const std::int32_t> ids) const;
    /// The windows' embeddings stacked by rows [windows * seq, hidden], the stream forwardBatch() and
    /// runLayer(..., windows) start from; throws Error as forwardBatch() does.
    RowMatrixF embedBatch(std::span<const std::span<const std::int32_t>> windows) const;
    /// Runs decoder layer `layer` on the residual stream x [seq, hidden] in place (positions 0..seq-1);
    /// `observer` (may be null) sees each site's input. Thread use as in forward(). Throws Error when
    /// the layer is not loaded (layerByLayer()). With `windows` > 1, x holds that many sequences of one
    /// length stacked by rows, each run as forwardBatch() runs it (the observer sees one at a time).
    void runLayer(int layer, RowMatrixF& x, const LinearInputObserver* observer = nullptr, int windows = 1) const;
    /// Logits [seq, vocab] from the last layer's output (final norm, then the head); rows are
    /// independent, so stacked sequences give each its own logits.
    RowMatrixF logits(const RowMatrixF& x) const;

    /// Converts decoder layer `layer`'s weights to float32 from the model (layerByLayer() models
    /// only), `replaced` overriding weights of that layer by name as in the constructor; a loaded
    /// layer is released first. Throws Error for a model not made with layerByLayer(), a bad layer
    /// index, or a replaced name outside the layer or of the wrong size.
    void loadLayer(int layer, std::map<std::string, std::vector<float>> replaced = {});
    /// Frees decoder layer `layer`'s float32 weights (layerByLayer() models only; no-op when not loaded).
    void releaseLayer(int layer);
    /// Installs `replaced` weights of decoder layer `layer` (e.g. its quantized Linears): a
    /// layerByLayer() model reloads the layer with them (loadLayer), any other becomes
    /// CausalLm(*this, replaced), sharing every other weight. Throws Error as those do.
    void replaceLayer(int layer, std::map<std::string, std::vector<float>> replaced);
    /// Whether made with layerByLayer() (decoder layers come and go with loadLayer / releaseLayer).
    bool loadsLayers() const;
    /// Whether decoder layer `layer` holds its weights (always true unless made with layerByLayer()).
    bool layerLoaded(int layer) const;

    /// Bytes of weight data this instance keeps alive (shared weights counted too): float32, and
    /// 2 per value for the Linear weights held in BF16/binary16 as stored.
    std::size_t weightBytes() const;
    /// The most float32 weight bytes alive at one time, counted over this model and every model
    /// sharing its weights (CausalLm(base, replaced) copies and their layers), since construction.
    std::size_t peakWeightBytes() const;

private:
    struct Impl;
    friend struct CausalLmAccess; // the backward pass (nn/causal_lm_grad.cpp) reads the weights
    explicit CausalLm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace qs::core
