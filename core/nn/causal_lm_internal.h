// SPDX-License-Identifier: MIT
#pragma once
// Private to nn/causal_lm.cpp (the forward pass), nn/causal_lm_weights.cpp (which float32 weights
// are held, and when) and nn/causal_lm_grad.cpp (the backward pass): the state they work on. No
// other file includes it.
#include "nn/causal_lm.h"
#include "quant/fake_quant.h"
#include "tensor/compact_matrix.h"
#include "tensor/gemm_bf16.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <omp.h>
#include <string>
#include <vector>

namespace qs::core {
// A named namespace, not an anonymous one: both files must see the same types.
namespace causal_lm_detail {

using Buffer = std::shared_ptr<const std::vector<float>>;
/// A Linear weight held compactly and exactly (tensor/compact_matrix.h): as the checkpoint stores it
/// in 16 bits, or quantized as int8 codes times scales. The products convert it while packing, so no
/// float32 copy is held.
using CompactBuffer = std::shared_ptr<const CompactMatrix>;

struct Linear {
    std::string name;
    Buffer weight;         ///< [out, in], or [in, out] when inOut; null when compact
    CompactBuffer compact; ///< the weight held compactly (same layout) when weight is null
    Buffer bias; ///< [out] or null
    int out = 0, in = 0;
    bool inOut = false; ///< stored [in, out] (GPT-2 Conv1D)

    /// The stored layout's rows and columns.
    std::int64_t storedRows() const { return inOut ? in : out; }
    std::int64_t storedCols() const { return inOut ? out : in; }
};

struct Norm {
    std::string name;
    Buffer weight;
    Buffer bias; ///< LayerNorm only
};

struct Layer {
    bool loaded = false; ///< false: names and shapes only (a layerByLayer() layer between loads)
    Norm attnNorm, mlpNorm;
    bool fusedQkv = false; ///< GPT-2 c_attn = [q | k | v]
    Linear qkv, q, k, v, o;
    bool gated = true; ///< act(gate) * up, else act(up)
    Linear gate, up, down;
    int slidingWindow = 0; ///< 0 = full causal attention
};

enum class Activation { Silu, GeluTanh, GeluErf, Relu };

// Below this many multiply-adds per hidden x hidden projection (seq * hidden^2) a sequence runs on
// the calling thread: waking threads for every matrix product costs more than it saves, badly so
// when other processes share the cores. Larger sequences use the OpenMP threads inside each step.
constexpr double kParallelMinWork = 1 << 24;

// Float32 weight bytes alive in a model and the models sharing its weights, and the most at one
// time: what a layer-by-layer evaluation reports to show it stayed within one layer.
struct WeightMeter {
    std::atomic<std::size_t> current{0}, peak{0};

    void add(std::size_t bytes) {
        const std::size_t now = current.fetch_add(bytes) + bytes;
        std::size_t seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
    }
    void remove(std::size_t bytes) { current.fetch_sub(bytes); }
};

/// `value` in a shared buffer that the meter counts (`bytes`) for as long as it lives: every weight
/// buffer a model holds (float32, compact, bf16 panels) is made here.
template <class T>
std::shared_ptr<const T> meteredBuffer(T value, std::size_t bytes, const std::shared_ptr<WeightMeter>& meter) {
    std::shared_ptr<const T> buffer(new const T(std::move(value)), [meter, bytes](const T* p) {
        delete p;
        meter->remove(bytes);
    });
    meter->add(bytes);
    return buffer;
}

/// Calls f on every Linear of a decoder layer, const or not (the unused ones have no name).
template <class L, class F>
void forEachLinear(L& l, F&& f) {
    for (auto* x : {&l.qkv, &l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) f(*x);
}

/// The bf16 panels of weights (ForwardHooks::bf16Products), packed on first use and kept while the
/// weight buffer they came from lives; keyed by that buffer, so models sharing buffers share them.
struct Bf16PanelCache {
    struct Entry {
        std::weak_ptr<const void> source;
        std::shared_ptr<const Bf16Panels> panels;
    };
    std::mutex mutex;
    std::map<const void*, Entry> entries;
};

class Loader;

using SlotFn = std::function<void(const std::string&, Buffer&)>;

} // namespace causal_lm_detail

struct CausalLm::Impl {
    using Buffer = causal_lm_detail::Buffer;
    using Linear = causal_lm_detail::Linear;
    using Norm = causal_lm_detail::Norm;
    using Layer = causal_lm_detail::Layer;
    using Activation = causal_lm_detail::Activation;
    using WeightMeter = causal_lm_detail::WeightMeter;
    using Loader = causal_lm_detail::Loader;
    using SlotFn = causal_lm_detail::SlotFn;

    ModelConfig config;
    Rope rope;
    bool useRope = true;
    NormKind normKind = NormKind::Rms;
    Activation activation = Activation::Silu;
    float eps = 1e-5f;
    int hidden = 0, vocab = 0, numHeads = 0, numKvHeads = 0, headDim = 0;
    Buffer embed;     ///< [vocab, hidden]
    Buffer positions; ///< learned positions (GPT-2 wpe) [maxPositions, hidden], or null
    int maxPositions = 0;
    std::vector<Layer> layers;
    Norm finalNorm;
    Buffer head; ///< [vocab, hidden]; the same buffer as embed when tied
    std::string embedName, positionsName, headName;
    ForwardHooks hooks;
    /// Counts this model's weight buffers (shared with the models derived from it).
    std::shared_ptr<WeightMeter> meter = std::make_shared<WeightMeter>();
    std::shared_ptr<causal_lm_detail::Bf16PanelCache> bf16Panels = std::make_shared<causal_lm_detail::Bf16PanelCache>();
    /// layerByLayer(): the model loadLayer() reads from; null when every layer is always loaded.
    const Model* source = nullptr;
    std::string namePrefix; ///< the architecture's optional name prefix when the checkpoint has it, else ""
    int slidingWindow = 0;  ///< sliding window of layers >= firstWindowLayer (0 = none)
    int firstWindowLayer = 0;

    // Loads the resident weights, and every decoder layer's weights when `readLayers` (else only
    // checks them).
    void build(const Model& model, Loader& loader, const JobContext& ctx, bool readLayers);
    Layer buildLayer(Loader& loader, int index) const;
    // Calls f(name, buffer) for every non-null weight slot (the tied head is reported under the embedding).
    void forEachSlot(const SlotFn& f);
    const Layer& layer(int index, const char* caller) const;

    void norm(const Norm& n, const RowMatrixF& x, RowMatrixF& y) const;
    RowMatrixF linear(const Linear& l, const RowMatrixF& x) const;
    // Linear l's weight (or the LM head) packed for bf16 products, from the cache or packed now.
    std::shared_ptr<const Bf16Panels> panelsOf(const Linear& l) const;
    std::shared_ptr<const Bf16Panels> headPanels() const;
    std::shared_ptr<const Bf16Panels> cachedPanels(const std::shared_ptr<const void>& source,
                                                   const std::function<Bf16Panels()>& pack) const;
    // q, k, v: `windows` windows of one length stacked by rows; attention stays within each window.
    RowMatrixF attention(const RowMatrixF& q, const RowMatrixF& k, const RowMatrixF& v, int windows, int window,
                         int layer) const;
    std::vector<LinearInputSite> sites(const Layer& l) const;
    // Runs decoder layer l on x, `windows` windows of one length stacked by rows ([windows * seq,
    // hidden]): every Linear multiplies all their rows at once, every hook sees one window at a time.
    void layerForward(const Layer& l, RowMatrixF& x, int windows, const Rope::Table& rotation, int index,
                      const LinearInputObserver* observer) const;
    // Throws Error naming `caller` when a decoder layer is not loaded.
    void checkLoaded(const char* caller) const;
    RowMatrixF embedTokens(std::span<const std::int32_t> ids) const;
    RowMatrixF logits(const RowMatrixF& x) const;
    bool serialFor(std::int64_t seq) const {
        return static_cast<double>(seq) * hidden * hidden < causal_lm_detail::kParallelMinWork &&
               omp_get_max_threads() > 1;
    }
};

/// The backward pass's way in to a model's weights and settings.
struct CausalLmAccess {
    using Impl = CausalLm::Impl;
    static const Impl& impl(const CausalLm& lm) { return *lm.m_impl; }
};

} // namespace qs::core
