// SPDX-License-Identifier: MIT
// The backward pass of CausalLm, written once over the scalar type: float for gradients,
// Dual<float> for gradients with their derivative along a direction (Hessian-vector products).
// The forward half mirrors nn/causal_lm.cpp operation by operation and keeps what the backward
// half needs (or only each layer's input, with GradOptions::recompute).
#include "nn/causal_lm_grad.h"

#include "base/error.h"
#include "eval/window_scores.h"
#include "nn/causal_lm_internal.h"
#include "nn/grad_kernels.h"
#include "quant/fake_quant.h"
#include "tensor/tensor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <omp.h>
#include <unordered_map>

namespace qs::core {
using namespace causal_lm_detail;
using grad::Mat;
using grad::Product;
using grad::View;
using Impl = CausalLmAccess::Impl;

namespace {

// ---- which weights, where ------------------------------------------------------------------------

struct LinearRef {
    int w = -1, b = -1; // slot indices (b = -1: no bias)
    int out = 0, in = 0;
    bool inOut = false;
};
struct NormRef {
    int w = -1, b = -1;
};
struct LayerRef {
    NormRef attnNorm, mlpNorm;
    bool fused = false, gated = true;
    LinearRef qkv, q, k, v, o, gate, up, down;
    int window = 0;
    int index = 0; // the decoder layer's number (the hooks' `layer`)
};
struct Slot {
    std::string name;
    const std::vector<float>* buffer = nullptr;
};

// The model's weights as numbered slots, each buffer once (a tied head is the embedding's slot).
struct ModelRef {
    std::vector<Slot> slots;
    int embed = -1, positions = -1, head = -1;
    std::vector<LayerRef> layers;
    NormRef finalNorm;

    // Every weight, or (withLayers false: layer-major) the resident ones only, each decoder layer's
    // slots added by bindLayer while it is loaded.
    explicit ModelRef(const Impl& m, bool withLayers = true) {
        embed = slot(m.embedName, m.embed);
        if (m.positions) positions = slot(m.positionsName, m.positions);
        layers.resize(m.layers.size());
        if (withLayers)
            for (std::size_t i = 0; i < m.layers.size(); ++i) {
                if (!m.layers[i].loaded)
                    throw Error("gradient: decoder layer " + std::to_string(i) +
                                " is not loaded (a layer-by-layer model is differentiated by lossGradientLayerMajor)");
                bindLayer(i, m.layers[i]);
            }
        finalNorm = norm(m.finalNorm);
        head = slot(m.headName, m.head);
    }

    // Slots for loaded decoder layer i's weights (appended: earlier slot numbers stay).
    void bindLayer(std::size_t i, const Layer& l) {
        LayerRef r;
        r.attnNorm = norm(l.attnNorm);
        r.fused = l.fusedQkv;
        if (l.fusedQkv) {
            r.qkv = linear(l.qkv);
        } else {
            r.q = linear(l.q);
            r.k = linear(l.k);
            r.v = linear(l.v);
        }
        r.o = linear(l.o);
        r.mlpNorm = norm(l.mlpNorm);
        r.gated = l.gated;
        if (l.gated) r.gate = linear(l.gate);
        r.up = linear(l.up);
        r.down = linear(l.down);
        r.window = l.slidingWindow;
        r.index = static_cast<int>(i);
        layers[i] = r;
    }
    // Forgets the buffers of slots [first, end) before their layer is released (a later layer's
    // buffers may reuse the addresses); the slots stay, without buffers.
    void unbindSlots(std::size_t first) {
        for (std::size_t i = first; i < slots.size(); ++i) {
            m_byBuffer.erase(slots[i].buffer);
            m_converted.erase(slots[i].buffer);
            slots[i].buffer = nullptr;
        }
    }

private:
    std::unordered_map<const void*, int> m_byBuffer;
    // float32 copies of Linear weights the forward pass holds compactly, for as long as bound
    std::unordered_map<const void*, std::unique_ptr<const std::vector<float>>> m_converted;

    int slot(const std::string& name, const Buffer& b) {
        if (const auto it = m_byBuffer.find(b.get()); it != m_byBuffer.end()) return it->second;
        slots.push_back({name, b.get()});
        return m_byBuffer[b.get()] = static_cast<int>(slots.size()) - 1;
    }
    static std::string biasName(const std::string& weightName) {
        return weightName.substr(0, weightName.size() - 7) + ".bias"; // ".weight" -> ".bias"
    }
    int compactSlot(const Linear& l) {
        auto copy = std::make_unique<const std::vector<float>>(l.compact->toFloats());
        slots.push_back({l.name, copy.get()});
        m_byBuffer[copy.get()] = static_cast<int>(slots.size()) - 1;
        m_converted.emplace(copy.get(), std::move(copy));
        return static_cast<int>(slots.size()) - 1;
    }
    LinearRef linear(const Linear& l) {
        LinearRef r;
        r.w = l.compact ? compactSlot(l) : slot(l.name, l.weight);
        if (l.bias) r.b = slot(biasName(l.name), l.bias);
        r.out = l.out;
        r.in = l.in;
        r.inOut = l.inOut;
        return r;
    }
    NormRef norm(const Norm& n) {
        NormRef r;
        r.w = slot(n.name, n.weight);
        if (n.bias) r.b = slot(biasName(n.name), n.bias);
        return r;
    }
};

grad::Act gradAct(Activation a) {
    switch (a) {
    case Activation::Silu: return grad::Act::Silu;
    case Activation::GeluTanh: return grad::Act::GeluTanh;
    case Activation::GeluErf: return grad::Act::GeluErf;
    case Activation::Relu: return grad::Act::Relu;
    }
    return grad::Act::Silu;
}

// Where a fake-quantized site's grid clipped it: 0 marks an element whose gradient is cut. Empty
// when nothing was clipped (dynamic min/max scales never clip), so the common case costs nothing.
using ClipMask = std::vector<std::uint8_t>;

// A batch matrix's values (or derivative parts) as a float32 row matrix, and back: what the
// quantizers and the forward pass's hooks work on.
template <class S>
RowMatrixF floatRows(const Mat<S>& x, bool derivative) {
    RowMatrixF m(x.rows, x.cols);
    for (std::size_t i = 0; i < x.a.size(); ++i) {
        if constexpr (IsDual<S>::value)
            m.data()[i] = static_cast<float>(derivative ? x.a[i].d : x.a[i].v);
        else
            m.data()[i] = static_cast<float>(x.a[i]);
    }
    return m;
}
template <class S>
void setFromRows(Mat<S>& x, const RowMatrixF& m, bool derivative) {
    for (std::size_t i = 0; i < x.a.size(); ++i) {
        if constexpr (IsDual<S>::value)
            (derivative ? x.a[i].d : x.a[i].v) = m.data()[i];
        else
            x.a[i] = static_cast<S>(m.data()[i]);
    }
}

// Fake quantization with a straight-through derivative: values quantized, derivatives untouched
// (the derivative along a direction too); `clipped` receives the mask for the backward half.
template <class S>
void quantizeStraightThrough(Mat<S>& x, std::int64_t rows, std::int64_t cols, const QuantSpec& spec, ClipMask& clipped) {
    clipped.assign(x.a.size(), 1);
    if constexpr (std::is_same_v<S, float>) {
        fakeQuantize(x.data(), rows, cols, spec, x.data(), clipped.data());
    } else {
        RowMatrixF v = floatRows(x, false);
        fakeQuantize(v.data(), rows, cols, spec, v.data(), clipped.data());
        setFromRows(x, v, false);
    }
    if (std::find(clipped.begin(), clipped.end(), std::uint8_t{0}) == clipped.end()) clipped.clear();
}

// The online transforms' hooks are float32: a float64 engine would be rounded by them.
template <class S>
void requireFloatHooks() {
    if constexpr (std::is_same_v<decltype(valueOf(S{})), double>)
        throw Error("gradient: float64 runs without online transforms (their hooks are float32)");
}

// A hook applied to a batch matrix: to its values alone (a quantizer: straight through), or, `linear`,
// to the derivative parts too (a basis change is linear).
template <class S>
void applyHook(Mat<S>& x, const std::function<void(RowMatrixF&)>& hook, bool linear) {
    requireFloatHooks<S>();
    for (int part = 0; part < (IsDual<S>::value && linear ? 2 : 1); ++part) {
        RowMatrixF m = floatRows(x, part == 1);
        hook(m);
        setFromRows(x, m, part == 1);
    }
}

// The straight-through estimator inside the clipping range only: the gradient of a clipped element is 0.
template <class S>
void cutClipped(Mat<S>& dx, const ClipMask& clipped) {
    if (clipped.empty()) return;
    for (std::size_t i = 0; i < dx.a.size(); ++i)
        if (!clipped[i]) dx.a[i] = S{};
}

template <class S>
std::size_t bytesOf(const Mat<S>& m) {
    return m.a.size() * sizeof(S);
}

// Sets this thread's OpenMP thread count to 1 inside parallel regions' bodies (products there run
// single-threaded), restored after.
class SerialInside {
public:
    SerialInside() : m_saved(omp_get_max_threads()) { omp_set_num_threads(1); }
    ~SerialInside() { omp_set_num_threads(m_saved); }
    SerialInside(const SerialInside&) = delete;
    SerialInside& operator=(const SerialInside&) = delete;

private:
    int m_saved;
};

// ---- the engine ---------------------------------------------------------------------------------

// What one decoder layer's backward step needs from its forward step.
template <class S>
struct LayerCache {
    Mat<S> x;                   // the layer's input (residual stream)
    grad::NormCache<S> n1, n2;  // attention and MLP norms
    Mat<S> h1;                  // input of q/k/v (normed, activation-quantized)
    Mat<S> q, k, v;             // q, k after RoPE; k, v after KV quantization
    Mat<S> p;                   // attention probabilities, [windows * heads * L, L]
    Mat<S> a;                   // input of o (attention output, activation-quantized)
    Mat<S> xMid;                // residual stream after attention
    Mat<S> h2;                  // input of gate/up
    Mat<S> g, u;                // gate (ungated: up) and up pre-activations
    Mat<S> m;                   // input of down
    ClipMask clipH1, clipA, clipH2, clipM, clipK, clipV; // what activation / KV quantization clipped
    bool inside = false;        // whether everything but x is held

    std::size_t bytes() const {
        return bytesOf(x) + bytesOf(h1) + bytesOf(q) + bytesOf(k) + bytesOf(v) + bytesOf(p) + bytesOf(a) +
               bytesOf(xMid) + bytesOf(h2) + bytesOf(g) + bytesOf(u) + bytesOf(m) +
               (n1.inv.size() + n1.mean.size() + n2.inv.size() + n2.mean.size()) * sizeof(S) + clipH1.size() +
               clipA.size() + clipH2.size() + clipM.size() + clipK.size() + clipV.size();
    }
    void dropInside() {
        Mat<S> keep = std::move(x);
        *this = LayerCache{};
        x = std::move(keep);
    }
};

template <class S>
class Engine {
public:
    // Weights W, or W + t·v with a direction (dual numbers: W + ε·v, t unused).
    Engine(const Impl& m, const ModelRef& ref, const WeightDirection* direction, double t = 0)
        : m_m(m), m_ref(ref), m_layerNorm(m.normKind == NormKind::LayerNorm), m_act(gradAct(m.activation)),
          m_direction(direction), m_t(t) {
        bindSlots();
    }

    // Values and zero gradients for the ref's slots this engine has not seen yet (layer-major: a
    // decoder layer's, once bound).
    void bindSlots() {
        const std::size_t first = m_value.size(), n = m_ref.slots.size();
        const WeightDirection* direction = m_direction;
        const double t = m_t;
        m_value.resize(n);
        m_grad.resize(n);
        m_owned.resize(n);
        for (std::size_t i = first; i < n; ++i) {
            const std::vector<float>& w = *m_ref.slots[i].buffer;
            m_grad[i].assign(w.size(), S{});
            const std::vector<float>* v = nullptr;
            if (direction)
                if (const auto it = direction->find(m_ref.slots[i].name); it != direction->end()) v = &it->second;
            if (std::is_same_v<S, float> && !v) {
                m_value[i] = reinterpret_cast<const S*>(w.data()); // read in place
                continue;
            }
            m_owned[i].resize(w.size());
            for (std::size_t j = 0; j < w.size(); ++j) {
                if constexpr (IsDual<S>::value)
                    m_owned[i][j] = S(w[j], v ? (*v)[j] : 0.0f);
                else
                    m_owned[i][j] = v ? S(w[j]) + S(t) * S((*v)[j]) : S(w[j]);
            }
            m_value[i] = m_owned[i].data();
        }
    }

    // Forward and backward over one batch of windows of equal length: adds the gradient of `scale`
    // times the batch's summed NLL into the gradients and returns that (unscaled) sum.
    // Without `backward` only the loss is computed.
    Wide<S> batch(std::span<const std::span<const std::int32_t>> windows, int scoreFrom, float scale,
                  bool recompute, bool backward, std::size_t& peakBytes) {
        const auto L = static_cast<std::int64_t>(windows[0].size());
        const auto B = static_cast<std::int64_t>(windows.size());
        Mat<S> x = embed(windows);
        std::vector<LayerCache<S>> caches(m_ref.layers.size());
        for (std::size_t l = 0; l < m_ref.layers.size(); ++l) {
            caches[l].x = x;
            x = layerForward(m_ref.layers[l], caches[l], B, L);
            if (!backward)
                caches[l] = LayerCache<S>{};
            else if (recompute)
                caches[l].dropInside();
        }
        std::size_t held = 0;
        for (const auto& c : caches)
            held += c.bytes();
        Mat<S> dx;
        const Wide<S> nll = headLoss(windows, scoreFrom, scale, backward, x, dx, held);
        peakBytes = std::max(peakBytes, held);
        if (!backward) return nll;
        for (std::size_t l = m_ref.layers.size(); l-- > 0;) {
            if (!caches[l].inside) {
                layerForward(m_ref.layers[l], caches[l], B, L);
                std::size_t now = bytesOf(dx);
                for (const auto& c : caches)
                    now += c.bytes();
                peakBytes = std::max(peakBytes, now);
            }
            layerBackward(m_ref.layers[l], caches[l], B, L, dx);
            caches[l] = LayerCache<S>{};
        }
        embedBackward(windows, dx);
        return nll;
    }

    // The final norm, head and loss of a batch whose last residual stream is x: adds the gradient of
    // `scale` times the summed NLL into the final norm's and head's gradients and sets dx to the
    // gradient of x (backward); returns the unscaled sum. `held` gains the bytes held here.
    Wide<S> headLoss(std::span<const std::span<const std::int32_t>> windows, int scoreFrom, float scale, bool backward,
                     const Mat<S>& x, Mat<S>& dxOut, std::size_t& held) {
        const auto L = static_cast<std::int64_t>(windows[0].size());
        const auto B = static_cast<std::int64_t>(windows.size());
        // Head and loss, a chunk of windows at a time (at most 2^24 logits held, at least one window).
        grad::NormCache<S> nf;
        Mat<S> hf;
        grad::normForward(m_layerNorm, x, value(m_ref.finalNorm.w), value(m_ref.finalNorm.b), m_m.eps, hf, nf);
        Mat<S> dhf(hf.rows, hf.cols);
        Wide<S> nll{};
        const std::int64_t vocab = m_m.vocab, hidden = m_m.hidden;
        const std::int64_t chunk = std::clamp<std::int64_t>((std::int64_t(1) << 24) / (L * vocab), 1, B);
        // Kept across batches: buffers this size would otherwise be fresh pages (a page fault each) every batch.
        if (m_logits.rows != chunk * L) m_logits = m_dlogits = Mat<S>(chunk * L, vocab);
        if (backward && m_dHead.rows == 0) m_dHead = Mat<S>(vocab, hidden);
        Mat<S>&logits = m_logits, &dlogits = m_dlogits, &dHead = m_dHead;
        held += bytesOf(x) + bytesOf(hf) + bytesOf(dhf) + 2 * bytesOf(logits) + bytesOf(dHead);
        const View<const S> headView{value(m_ref.head), vocab, hidden, hidden};
        for (std::int64_t b0 = 0; b0 < B; b0 += chunk) {
            const std::int64_t cw = std::min(chunk, B - b0), rows = cw * L;
            const View<const S> hb{hf.row(b0 * L), rows, hidden, hidden};
            const View<S> lv{logits.data(), rows, vocab, vocab}, dv{dlogits.data(), rows, vocab, vocab};
            grad::product<S>(Product::NT, hb, headView, lv);
            for (std::int64_t b = b0; b < b0 + cw; ++b) {
                const auto& ids = windows[static_cast<std::size_t>(b)];
                for (std::int64_t i = 0; i < L; ++i) {
                    const std::int64_t r = (b - b0) * L + i;
                    S* g = dlogits.row(r);
                    if (i + 1 < L && i + 1 >= scoreFrom) {
                        nll += grad::crossEntropyRow<S>(logits.row(r), vocab, ids[static_cast<std::size_t>(i + 1)],
                                                        backward ? g : nullptr, S(scale));
                    } else {
                        std::fill(g, g + vocab, S{});
                    }
                }
            }
            if (!backward) continue;
            // dHead += dlogitsᵀ·h, dh = dlogits·Head.
            grad::productTN<S>(View<const S>{dv.data, rows, vocab, vocab}, hb, grad::viewOf(dHead));
            addTo(m_ref.head, dHead.a);
            grad::product<S>(Product::NN, View<const S>{dv.data, rows, vocab, vocab},
                             View<const S>{value(m_ref.head), vocab, hidden, hidden}, {dhf.row(b0 * L), rows, hidden, hidden});
        }
        if (!backward) return nll;
        Mat<S> dx(x.rows, x.cols);
        grad::normBackward(m_layerNorm, x, value(m_ref.finalNorm.w), nf, dhf, dx, grad(m_ref.finalNorm.w),
                           grad(m_ref.finalNorm.b));
        dxOut = std::move(dx);
        return nll;
    }

    const std::vector<std::vector<S>>& gradients() const { return m_grad; }
    std::vector<S> takeGradient(std::size_t slot) { return std::move(m_grad[slot]); }

    // Layer-major: every batch through one decoder layer at a time (each layer bound twice: forward,
    // then backward after recomputing its inside from the kept input). `ref` is this engine's ref;
    // load(l) / release(l) bring layer l's weights in and out; done(slot) takes a decoder layer slot's
    // finished gradient before its layer goes. Adds every batch's gradient (scaled) like batch() and
    // returns the summed NLL; the resident weights' gradients stay in gradients().
    Wide<S> layerMajor(const std::vector<std::span<const std::span<const std::int32_t>>>& batches, int scoreFrom,
                       float scale, ModelRef& ref, const std::function<void(int)>& load,
                       const std::function<void(int)>& release, const std::function<void(std::size_t)>& done,
                       std::size_t& peakBytes, const JobContext& job) {
        const std::size_t layers = ref.layers.size(), nb = batches.size();
        const long long steps = 2 * static_cast<long long>(layers) + 1;
        auto bind = [&](std::size_t l) {
            job.checkCancel();
            load(static_cast<int>(l));
            const std::size_t first = ref.slots.size();
            ref.bindLayer(l, m_m.layers[l]);
            bindSlots();
            return first;
        };
        auto unbind = [&](std::size_t l, std::size_t first) {
            for (std::size_t i = first; i < m_value.size(); ++i) {
                m_value[i] = nullptr;
                m_grad[i] = {};
                m_owned[i] = {};
            }
            ref.unbindSlots(first);
            release(static_cast<int>(l));
        };
        auto dims = [&](std::size_t b) {
            return std::pair{static_cast<std::int64_t>(batches[b].size()), static_cast<std::int64_t>(batches[b][0].size())};
        };
        std::vector<Mat<S>> xs(nb);
        std::vector<std::vector<Mat<S>>> inputs(layers, std::vector<Mat<S>>(nb)); // each layer's input, per batch
        std::size_t streams = 0; // bytes of the kept inputs and the current streams
        for (std::size_t b = 0; b < nb; ++b) {
            xs[b] = embed(batches[b]);
            streams += bytesOf(xs[b]);
        }
        for (std::size_t l = 0; l < layers; ++l) {
            job.step(static_cast<long long>(l), steps, "layer-major backward pass: forward");
            const std::size_t first = bind(l);
            for (std::size_t b = 0; b < nb; ++b) {
                const auto [B, L] = dims(b);
                LayerCache<S> c;
                c.x = std::move(xs[b]);
                xs[b] = layerForward(ref.layers[l], c, B, L);
                peakBytes = std::max(peakBytes, streams + bytesOf(xs[b]) + c.bytes());
                streams += bytesOf(xs[b]);
                inputs[l][b] = std::move(c.x);
            }
            unbind(l, first);
        }
        job.step(static_cast<long long>(layers), steps, "layer-major backward pass: head");
        Wide<S> nll{};
        std::vector<Mat<S>> dxs(nb);
        for (std::size_t b = 0; b < nb; ++b) {
            std::size_t held = streams;
            nll += headLoss(batches[b], scoreFrom, scale, true, xs[b], dxs[b], held);
            peakBytes = std::max(peakBytes, held);
            streams += bytesOf(dxs[b]);
            streams -= bytesOf(xs[b]);
            xs[b] = Mat<S>{};
        }
        for (std::size_t l = layers; l-- > 0;) {
            job.step(steps - 1 - static_cast<long long>(l), steps, "layer-major backward pass: backward");
            const std::size_t first = bind(l);
            for (std::size_t b = 0; b < nb; ++b) {
                const auto [B, L] = dims(b);
                LayerCache<S> c;
                c.x = std::move(inputs[l][b]);
                layerForward(ref.layers[l], c, B, L);
                peakBytes = std::max(peakBytes, streams + c.bytes());
                layerBackward(ref.layers[l], c, B, L, dxs[b]);
                streams -= bytesOf(c.x);
            }
            for (std::size_t i = first; i < ref.slots.size(); ++i) done(i);
            unbind(l, first);
        }
        for (std::size_t b = 0; b < nb; ++b) embedBackward(batches[b], dxs[b]);
        job.step(steps, steps, "layer-major backward pass");
        return nll;
    }

private:
    const Impl& m_m;
    const ModelRef& m_ref;
    bool m_layerNorm;
    grad::Act m_act;
    const WeightDirection* m_direction; // the engine's direction (null: none)
    double m_t;
    std::vector<const S*> m_value;
    std::vector<std::vector<S>> m_grad;
    std::vector<std::vector<S>> m_owned; // values of a non-float scalar type

    Mat<S> m_logits, m_dlogits, m_dHead;  // the head's buffers, reused by every batch

public:
    /// GradOptions::linearObserver (float32 only).
    std::function<void(const std::string&, const float*, std::int64_t, std::int64_t, const float*, std::int64_t)> m_observer;

private:

    const S* value(int slot) const { return slot < 0 ? nullptr : m_value[static_cast<std::size_t>(slot)]; }
    S* grad(int slot) { return slot < 0 ? nullptr : m_grad[static_cast<std::size_t>(slot)].data(); }
    void addTo(int slot, const std::vector<S>& g) {
        std::vector<S>& dst = m_grad[static_cast<std::size_t>(slot)];
        for (std::size_t i = 0; i < g.size(); ++i)
            dst[i] += g[i];
    }

    Mat<S> embed(std::span<const std::span<const std::int32_t>> windows) const {
        const auto L = static_cast<std::int64_t>(windows[0].size());
        const std::int64_t hidden = m_m.hidden;
        Mat<S> x(static_cast<std::int64_t>(windows.size()) * L, hidden);
        const S* table = value(m_ref.embed);
        const S* pos = value(m_ref.positions);
        for (std::size_t b = 0; b < windows.size(); ++b)
            for (std::int64_t i = 0; i < L; ++i) {
                const std::int32_t id = windows[b][static_cast<std::size_t>(i)];
                S* row = x.row(static_cast<std::int64_t>(b) * L + i);
                const S* e = table + static_cast<std::int64_t>(id) * hidden;
                for (std::int64_t c = 0; c < hidden; ++c)
                    row[c] = pos ? e[c] + pos[i * hidden + c] : e[c];
            }
        return x;
    }

    void embedBackward(std::span<const std::span<const std::int32_t>> windows, const Mat<S>& dx) {
        const auto L = static_cast<std::int64_t>(windows[0].size());
        const std::int64_t hidden = m_m.hidden;
        S* ge = grad(m_ref.embed);
        S* gp = grad(m_ref.positions);
        for (std::size_t b = 0; b < windows.size(); ++b)
            for (std::int64_t i = 0; i < L; ++i) {
                const S* d = dx.row(static_cast<std::int64_t>(b) * L + i);
                S* e = ge + static_cast<std::int64_t>(windows[b][static_cast<std::size_t>(i)]) * hidden;
                for (std::int64_t c = 0; c < hidden; ++c) {
                    e[c] += d[c];
                    if (gp) gp[i * hidden + c] += d[c];
                }
            }
    }

    Mat<S> linear(const LinearRef& l, const Mat<S>& x) {
        Mat<S> y(x.rows, l.out);
        // x·Wᵀ from [out, in]; x·W from a Conv1D's [in, out].
        if (l.inOut)
            grad::product<S>(Product::NN, grad::viewOf(x), View<const S>{value(l.w), l.in, l.out, l.out}, grad::viewOf(y));
        else
            grad::product<S>(Product::NT, grad::viewOf(x), View<const S>{value(l.w), l.out, l.in, l.in}, grad::viewOf(y));
        if (const S* b = value(l.b))
            for (std::int64_t r = 0; r < y.rows; ++r) {
                S* row = y.row(r);
                for (std::int64_t c = 0; c < y.cols; ++c)
                    row[c] += b[c];
            }
        return y;
    }

    // dx += dy·W (the input's gradient), dW += dyᵀ·x, db += Σ dy.
    void linearBackward(const LinearRef& l, const Mat<S>& x, const Mat<S>& dy, Mat<S>& dx) {
        if constexpr (std::is_same_v<S, float>)
            if (m_observer) m_observer(m_ref.slots[static_cast<std::size_t>(l.w)].name, x.data(), x.rows, x.cols, dy.data(), dy.cols);
        Mat<S> t(x.rows, l.in);
        // dy·W from [out, in]; dy·Wᵀ from a Conv1D's [in, out].
        if (l.inOut)
            grad::product<S>(Product::NT, grad::viewOf(dy), View<const S>{value(l.w), l.in, l.out, l.out}, grad::viewOf(t));
        else
            grad::product<S>(Product::NN, grad::viewOf(dy), View<const S>{value(l.w), l.out, l.in, l.in}, grad::viewOf(t));
        for (std::size_t i = 0; i < t.a.size(); ++i)
            dx.a[i] += t.a[i];
        Mat<S> gw = l.inOut ? Mat<S>(l.in, l.out) : Mat<S>(l.out, l.in);
        if (l.inOut)
            grad::productTN<S>(grad::viewOf(x), grad::viewOf(dy), grad::viewOf(gw));
        else
            grad::productTN<S>(grad::viewOf(dy), grad::viewOf(x), grad::viewOf(gw));
        addTo(l.w, gw.a);
        if (S* gb = grad(l.b)) {
            std::vector<Wide<S>> acc(static_cast<std::size_t>(dy.cols));
            for (std::int64_t r = 0; r < dy.rows; ++r)
                for (std::int64_t c = 0; c < dy.cols; ++c)
                    acc[static_cast<std::size_t>(c)] += convertScalar<Wide<S>>(dy.row(r)[c]);
            for (std::int64_t c = 0; c < dy.cols; ++c)
                gb[c] += convertScalar<S>(acc[static_cast<std::size_t>(c)]);
        }
    }

    // A decoder Linear's input as the forward pass makes it: the transforms' basis change first
    // (siteTransform), then the activation quantization (a transform's own site quantizer, straight
    // through, or the spec, with its clip mask).
    void siteInput(int layer, int site, Mat<S>& x, ClipMask& clipped) const {
        const ForwardHooks& h = m_m.hooks;
        if (h.siteTransform) applyHook(x, [&](RowMatrixF& m) { h.siteTransform(layer, site, m); }, true);
        if (h.siteQuantize)
            applyHook(x, [&](RowMatrixF& m) { h.siteQuantize(layer, site, m); }, false);
        else if (h.activation)
            quantizeStraightThrough(x, x.rows, x.cols, *h.activation, clipped);
    }
    // The gradient of a site input, given the gradient of what siteInput made of it.
    void siteGradient(int layer, int site, Mat<S>& dx, const ClipMask& clipped) const {
        cutClipped(dx, clipped);
        const ForwardHooks& h = m_m.hooks;
        if (h.siteTransform) applyHook(dx, [&](RowMatrixF& m) { h.siteTransformTranspose(layer, site, m); }, true);
    }

    // Runs decoder layer l on c.x, filling the cache; returns the layer's output.
    Mat<S> layerForward(const LayerRef& l, LayerCache<S>& c, std::int64_t B, std::int64_t L) {
        const Impl& m = m_m;
        const int layer = l.index;
        grad::normForward(m_layerNorm, c.x, value(l.attnNorm.w), value(l.attnNorm.b), m.eps, c.h1, c.n1);
        siteInput(layer, 0, c.h1, c.clipH1);
        const std::int64_t qDim = static_cast<std::int64_t>(m.numHeads) * m.headDim;
        const std::int64_t kvDim = static_cast<std::int64_t>(m.numKvHeads) * m.headDim;
        if (l.fused) {
            const Mat<S> qkv = linear(l.qkv, c.h1);
            c.q = Mat<S>(qkv.rows, qDim);
            c.k = Mat<S>(qkv.rows, kvDim);
            c.v = Mat<S>(qkv.rows, kvDim);
            for (std::int64_t r = 0; r < qkv.rows; ++r) {
                const S* src = qkv.row(r);
                std::copy(src, src + qDim, c.q.row(r));
                std::copy(src + qDim, src + qDim + kvDim, c.k.row(r));
                std::copy(src + qDim + kvDim, src + qDim + 2 * kvDim, c.v.row(r));
            }
        } else {
            c.q = linear(l.q, c.h1);
            c.k = linear(l.k, c.h1);
            c.v = linear(l.v, c.h1);
        }
        if (m.useRope) {
            const Rope::Table t = m.rope.table(L);
            for (std::int64_t b = 0; b < B; ++b) {
                grad::rotate(grad::rowsOf(grad::viewOf(c.q), b * L, L), m.numHeads, m.headDim, t.cos, t.sin, false);
                grad::rotate(grad::rowsOf(grad::viewOf(c.k), b * L, L), m.numKvHeads, m.headDim, t.cos, t.sin, false);
            }
        }
        if (m.hooks.kvQuantize) { // a transform's KV quantizer: values only, straight through
            requireFloatHooks<S>();
            RowMatrixF k = floatRows(c.k, false), v = floatRows(c.v, false);
            m.hooks.kvQuantize(layer, k, v);
            setFromRows(c.k, k, false);
            setFromRows(c.v, v, false);
        } else if (m.hooks.kvCache) {
            quantizeStraightThrough(c.k, c.k.rows * m.numKvHeads, m.headDim, *m.hooks.kvCache, c.clipK);
            quantizeStraightThrough(c.v, c.v.rows * m.numKvHeads, m.headDim, *m.hooks.kvCache, c.clipV);
        }
        attentionForward(c, B, L, l.window);
        siteInput(layer, 1, c.a, c.clipA);
        c.xMid = c.x;
        {
            const Mat<S> o = linear(l.o, c.a);
            for (std::size_t i = 0; i < o.a.size(); ++i)
                c.xMid.a[i] += o.a[i];
        }
        grad::normForward(m_layerNorm, c.xMid, value(l.mlpNorm.w), value(l.mlpNorm.b), m.eps, c.h2, c.n2);
        siteInput(layer, 2, c.h2, c.clipH2);
        c.u = linear(l.up, c.h2);
        if (l.gated) {
            c.g = linear(l.gate, c.h2);
            c.m = Mat<S>(c.g.rows, c.g.cols);
            for (std::size_t i = 0; i < c.g.a.size(); ++i)
                c.m.a[i] = grad::activation(m_act, c.g.a[i]) * c.u.a[i];
        } else {
            c.m = Mat<S>(c.u.rows, c.u.cols);
            for (std::size_t i = 0; i < c.u.a.size(); ++i)
                c.m.a[i] = grad::activation(m_act, c.u.a[i]);
        }
        siteInput(layer, 3, c.m, c.clipM);
        Mat<S> out = c.xMid;
        const Mat<S> d = linear(l.down, c.m);
        for (std::size_t i = 0; i < d.a.size(); ++i)
            out.a[i] += d.a[i];
        c.inside = true;
        return out;
    }

    void attentionForward(LayerCache<S>& c, std::int64_t B, std::int64_t L, int window) const {
        const int H = m_m.numHeads, hd = m_m.headDim, group = m_m.numHeads / m_m.numKvHeads;
        const float scaleDiv = static_cast<float>(std::sqrt(static_cast<double>(hd)));
        c.p = Mat<S>(B * H * L, L);
        c.a = Mat<S>(B * L, static_cast<std::int64_t>(H) * hd);
#pragma omp parallel
        {
            const SerialInside serial;
#pragma omp for schedule(static)
            for (std::int64_t bh = 0; bh < B * H; ++bh) {
                const std::int64_t b = bh / H;
                const int h = static_cast<int>(bh % H), g = h / group;
                const View<S> p{c.p.row(bh * L), L, L, L};
                grad::product<S>(Product::NT, grad::rowsOf(grad::columnsOf(std::as_const(c.q), h * hd, hd), b * L, L),
                                 grad::rowsOf(grad::columnsOf(std::as_const(c.k), g * hd, hd), b * L, L), p,
                                 GemmShape::Lower);
                grad::causalSoftmax(p, scaleDiv, window);
                grad::product<S>(Product::NN, View<const S>{p.data, L, L, L},
                                 grad::rowsOf(grad::columnsOf(std::as_const(c.v), g * hd, hd), b * L, L),
                                 grad::rowsOf(grad::columnsOf(c.a, h * hd, hd), b * L, L), GemmShape::Lower);
            }
        }
    }

    // dq, dk, dv from do (the gradient of the attention output), per window and KV head; a KV head's
    // query heads add their parts in order.
    void attentionBackward(const LayerCache<S>& c, const Mat<S>& dOut, std::int64_t B, std::int64_t L, Mat<S>& dq,
                           Mat<S>& dk, Mat<S>& dv) const {
        const int H = m_m.numHeads, KV = m_m.numKvHeads, hd = m_m.headDim, group = H / KV;
        const float scaleDiv = static_cast<float>(std::sqrt(static_cast<double>(hd)));
#pragma omp parallel
        {
            const SerialInside serial;
            Mat<S> dp(L, L), t(L, hd);
#pragma omp for schedule(static)
            for (std::int64_t bg = 0; bg < B * KV; ++bg) {
                const std::int64_t b = bg / KV;
                const int g = static_cast<int>(bg % KV);
                const auto kG = grad::rowsOf(grad::columnsOf(c.k, g * hd, hd), b * L, L);
                const auto vG = grad::rowsOf(grad::columnsOf(c.v, g * hd, hd), b * L, L);
                const auto dkG = grad::rowsOf(grad::columnsOf(dk, g * hd, hd), b * L, L);
                const auto dvG = grad::rowsOf(grad::columnsOf(dv, g * hd, hd), b * L, L);
                for (int h = g * group; h < (g + 1) * group; ++h) {
                    const std::int64_t bh = b * H + h;
                    const View<const S> p{c.p.row(bh * L), L, L, L};
                    const auto dO = grad::rowsOf(grad::columnsOf(dOut, h * hd, hd), b * L, L);
                    // dV += Pᵀ·dO; dP = dO·Vᵀ; dS = softmax backward; dQ = dS·K; dK += dSᵀ·Q.
                    grad::productTN<S>(p, dO, grad::viewOf(t));
                    addView(dvG, t);
                    grad::product<S>(Product::NT, dO, vG, grad::viewOf(dp), GemmShape::Lower);
                    grad::causalSoftmaxBackward(p, grad::viewOf(dp), scaleDiv);
                    grad::product<S>(Product::NN, grad::viewOf(std::as_const(dp)), kG,
                                     grad::rowsOf(grad::columnsOf(dq, h * hd, hd), b * L, L), GemmShape::Lower);
                    grad::productTN<S>(grad::viewOf(std::as_const(dp)),
                                       grad::rowsOf(grad::columnsOf(c.q, h * hd, hd), b * L, L), grad::viewOf(t));
                    addView(dkG, t);
                }
            }
        }
    }

    static void addView(View<S> dst, const Mat<S>& src) {
        for (std::int64_t r = 0; r < dst.rows; ++r)
            for (std::int64_t k = 0; k < dst.cols; ++k)
                dst.at(r, k) += src.row(r)[k];
    }

    // dx: the gradient of the layer's output on entry, of its input on return.
    void layerBackward(const LayerRef& l, const LayerCache<S>& c, std::int64_t B, std::int64_t L, Mat<S>& dx) {
        const Impl& m = m_m;
        // MLP: out = xMid + down(m), m = act(g)·u (ungated: act(u)).
        Mat<S> dm(c.m.rows, c.m.cols);
        linearBackward(l.down, c.m, dx, dm);
        siteGradient(l.index, 3, dm, c.clipM);
        Mat<S> dh2(c.h2.rows, c.h2.cols);
        if (l.gated) {
            Mat<S> dg(c.g.rows, c.g.cols), du(c.u.rows, c.u.cols);
            for (std::size_t i = 0; i < dm.a.size(); ++i) {
                dg.a[i] = dm.a[i] * c.u.a[i] * grad::activationDerivative(m_act, c.g.a[i]);
                du.a[i] = dm.a[i] * grad::activation(m_act, c.g.a[i]);
            }
            linearBackward(l.gate, c.h2, dg, dh2);
            linearBackward(l.up, c.h2, du, dh2);
        } else {
            Mat<S> du(c.u.rows, c.u.cols);
            for (std::size_t i = 0; i < dm.a.size(); ++i)
                du.a[i] = dm.a[i] * grad::activationDerivative(m_act, c.u.a[i]);
            linearBackward(l.up, c.h2, du, dh2);
        }
        siteGradient(l.index, 2, dh2, c.clipH2);
        grad::normBackward(m_layerNorm, c.xMid, value(l.mlpNorm.w), c.n2, dh2, dx, grad(l.mlpNorm.w),
                           grad(l.mlpNorm.b));
        // Attention: xMid = x + o(a).
        Mat<S> da(c.a.rows, c.a.cols);
        linearBackward(l.o, c.a, dx, da);
        siteGradient(l.index, 1, da, c.clipA);
        Mat<S> dq(c.q.rows, c.q.cols), dk(c.k.rows, c.k.cols), dv(c.v.rows, c.v.cols);
        attentionBackward(c, da, B, L, dq, dk, dv);
        cutClipped(dk, c.clipK); // quantized after RoPE: cut before its inverse
        cutClipped(dv, c.clipV);
        if (m.useRope) {
            const Rope::Table t = m.rope.table(L);
            for (std::int64_t b = 0; b < B; ++b) {
                grad::rotate(grad::rowsOf(grad::viewOf(dq), b * L, L), m.numHeads, m.headDim, t.cos, t.sin, true);
                grad::rotate(grad::rowsOf(grad::viewOf(dk), b * L, L), m.numKvHeads, m.headDim, t.cos, t.sin, true);
            }
        }
        Mat<S> dh1(c.h1.rows, c.h1.cols);
        if (l.fused) {
            Mat<S> dqkv(dq.rows, dq.cols + dk.cols + dv.cols);
            for (std::int64_t r = 0; r < dq.rows; ++r) {
                S* dst = dqkv.row(r);
                dst = std::copy(dq.row(r), dq.row(r) + dq.cols, dst);
                dst = std::copy(dk.row(r), dk.row(r) + dk.cols, dst);
                std::copy(dv.row(r), dv.row(r) + dv.cols, dst);
            }
            linearBackward(l.qkv, c.h1, dqkv, dh1);
        } else {
            linearBackward(l.q, c.h1, dq, dh1);
            linearBackward(l.k, c.h1, dk, dh1);
            linearBackward(l.v, c.h1, dv, dh1);
        }
        siteGradient(l.index, 0, dh1, c.clipH1);
        grad::normBackward(m_layerNorm, c.x, value(l.attnNorm.w), c.n1, dh1, dx, grad(l.attnNorm.w),
                           grad(l.attnNorm.b));
    }
};

void checkHooks(const ForwardHooks& h) {
    if (h.siteTransform && !h.siteTransformTranspose)
        throw Error("gradient: the model changes the basis of Linear inputs by a function without an adjoint "
                    "(siteTransformTranspose); the backward pass cannot pass gradients through it");
    if (h.bf16Products)
        throw Error("gradient: the model runs its products in bf16 (bf16Products); the backward pass is float32");
    if (h.attentionObserver || !h.attentionSpans.empty())
        throw Error("gradient: the model's attention is observed or masked to spans; the backward pass runs full "
                    "causal attention only");
}

void checkWindows(const Impl& m, std::span<const std::span<const std::int32_t>> windows, int scoreFrom) {
    if (windows.empty()) throw Error("gradient: no windows");
    const std::size_t L = windows[0].size();
    if (scoreFrom < 1 || L < static_cast<std::size_t>(scoreFrom) + 1)
        throw Error("gradient: windows of " + std::to_string(L) + " tokens score nothing from position " +
                    std::to_string(scoreFrom));
    if (m.positions && static_cast<long long>(L) > m.maxPositions)
        throw Error("gradient: " + std::to_string(L) + " tokens exceed the model's " +
                    std::to_string(m.maxPositions) + " learned positions");
    for (std::size_t w = 0; w < windows.size(); ++w) {
        if (windows[w].size() != L) throw Error("gradient: windows differ in length");
        for (std::size_t i = 0; i < L; ++i)
            if (windows[w][i] < 0 || windows[w][i] >= m.vocab)
                throw Error("gradient: token id " + std::to_string(windows[w][i]) + " at position " +
                            std::to_string(i) + " of window " + std::to_string(w) +
                            " is outside the vocabulary (0.." + std::to_string(m.vocab - 1) + ")");
    }
}

using Windows = std::span<const std::span<const std::int32_t>>;

// The windows in batches of at most options.batchTokens tokens (at least one window each).
std::vector<Windows> cutBatches(Windows windows, const GradOptions& options) {
    const std::size_t L = windows[0].size();
    const std::size_t perBatch =
        std::max<std::size_t>(1, static_cast<std::size_t>(std::max(1LL, options.batchTokens)) / L);
    std::vector<Windows> batches;
    for (std::size_t first = 0; first < windows.size(); first += perBatch)
        batches.push_back(windows.subspan(first, std::min(perBatch, windows.size() - first)));
    return batches;
}

// Each scored token's share of the mean.
float lossScale(long long tokensScored) { return static_cast<float>(1.0 / static_cast<double>(tokensScored)); }

// Runs the engine over every batch; returns the summed NLL.
template <class S>
Wide<S> runBatches(Engine<S>& engine, Windows windows, int scoreFrom, long long tokensScored, const GradOptions& options,
                   const JobContext& job, std::size_t& peakBytes, bool backward = true) {
    const float scale = lossScale(tokensScored);
    Wide<S> nll{};
    long long done = 0;
    for (const Windows batch : cutBatches(windows, options)) {
        job.step(done, static_cast<long long>(windows.size()), "backward pass");
        nll += engine.batch(batch, scoreFrom, scale, options.recompute, backward, peakBytes);
        done += static_cast<long long>(batch.size());
    }
    job.step(static_cast<long long>(windows.size()), static_cast<long long>(windows.size()), "backward pass");
    return nll;
}

} // namespace

const std::vector<float>& LossGradient::gradient(const std::string& name) const {
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return gradients[i];
    throw Error("gradient: the model has no differentiable weight '" + name + "'");
}

std::vector<DifferentiableWeight> differentiableWeights(const CausalLm& lm) {
    const ModelRef ref(CausalLmAccess::impl(lm));
    std::vector<DifferentiableWeight> out;
    for (const Slot& s : ref.slots)
        out.push_back({s.name, static_cast<std::int64_t>(s.buffer->size())});
    return out;
}

namespace {

void checkDirection(const ModelRef& ref, const WeightDirection& v, const char* what) {
    for (const auto& entry : v) {
        const std::string& name = entry.first;
        const std::vector<float>& values = entry.second;
        const auto it = std::find_if(ref.slots.begin(), ref.slots.end(), [&](const Slot& s) { return s.name == name; });
        if (it == ref.slots.end())
            throw Error(std::string(what) + ": the direction names '" + name +
                        "', not a weight the model differentiates");
        if (values.size() != it->buffer->size())
            throw Error(std::string(what) + ": the direction's '" + name + "' has " + std::to_string(values.size()) +
                        " values, the weight " + std::to_string(it->buffer->size()));
    }
}

long long scoredTokens(std::span<const std::span<const std::int32_t>> windows, int scoreFrom) {
    return static_cast<long long>(windows.size()) * (static_cast<long long>(windows[0].size()) - scoreFrom);
}

template <class S>
LossGradient gradientIn(const Impl& m, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                        const GradOptions& options, const JobContext& job) {
    const auto t0 = std::chrono::steady_clock::now();
    const ModelRef ref(m);
    Engine<S> engine(m, ref, nullptr);
    engine.m_observer = options.linearObserver;
    LossGradient out;
    out.tokensScored = scoredTokens(windows, scoreFrom);
    const double nll = runBatches(engine, windows, scoreFrom, out.tokensScored, options, job, out.peakActivationBytes);
    out.loss = nll / static_cast<double>(out.tokensScored);
    for (std::size_t i = 0; i < ref.slots.size(); ++i) {
        out.names.push_back(ref.slots[i].name);
        const std::vector<S>& g = engine.gradients()[i];
        out.gradients.emplace_back(g.size());
        for (std::size_t j = 0; j < g.size(); ++j)
            out.gradients.back()[j] = static_cast<float>(g[j]);
    }
    out.seconds = secondsSince(t0);
    return out;
}

template <class T>
DirectionalCurvature curvatureIn(const Impl& m, std::span<const std::span<const std::int32_t>> windows,
                                 int scoreFrom, const WeightDirection& v, bool keepHessianVector,
                                 const GradOptions& options, const JobContext& job) {
    const auto t0 = std::chrono::steady_clock::now();
    const ModelRef ref(m);
    checkDirection(ref, v, "curvature");
    using D = Dual<T>;
    Engine<D> engine(m, ref, &v);
    DirectionalCurvature out;
    out.tokensScored = scoredTokens(windows, scoreFrom);
    std::size_t peak = 0;
    const Dual<double> nll = runBatches(engine, windows, scoreFrom, out.tokensScored, options, job, peak);
    out.loss = nll.v / static_cast<double>(out.tokensScored);
    out.dirDeriv = nll.d / static_cast<double>(out.tokensScored);
    // vᵀ(Hv): the derivative parts of the gradient are H·v.
    double curvature = 0;
    for (std::size_t i = 0; i < ref.slots.size(); ++i) {
        const std::vector<D>& g = engine.gradients()[i];
        if (const auto it = v.find(ref.slots[i].name); it != v.end())
            for (std::size_t j = 0; j < g.size(); ++j)
                curvature += static_cast<double>(it->second[j]) * static_cast<double>(g[j].d);
        if (keepHessianVector) {
            out.names.push_back(ref.slots[i].name);
            std::vector<float> hv(g.size());
            for (std::size_t j = 0; j < g.size(); ++j)
                hv[j] = static_cast<float>(g[j].d);
            out.hessianVector.push_back(std::move(hv));
        }
    }
    out.curvature = curvature;
    out.seconds = secondsSince(t0);
    return out;
}

template <class S>
double lossIn(const Impl& m, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
              const WeightDirection& v, double t, const GradOptions& options, const JobContext& job) {
    const ModelRef ref(m);
    checkDirection(ref, v, "loss along a direction");
    Engine<S> engine(m, ref, &v, t);
    const long long n = scoredTokens(windows, scoreFrom);
    std::size_t peak = 0;
    return static_cast<double>(runBatches(engine, windows, scoreFrom, n, options, job, peak, false)) /
           static_cast<double>(n);
}

const Impl& checkedImpl(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom) {
    const Impl& m = CausalLmAccess::impl(lm);
    checkHooks(m.hooks);
    checkWindows(m, windows, scoreFrom);
    return m;
}

} // namespace

LossGradient lossGradientLayerMajor(CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                                    const GradientSink& onGradient, const LayerLoader& loader, const GradOptions& options,
                                    const JobContext& job) {
    if (options.float64)
        throw Error("gradient: float64 runs on the whole model only, not one layer at a time");
    const Impl& m = checkedImpl(lm, windows, scoreFrom);
    const auto t0 = std::chrono::steady_clock::now();
    ModelRef ref(m, false);
    const std::size_t resident = ref.slots.size();
    Engine<float> engine(m, ref, nullptr);
    engine.m_observer = options.linearObserver;
    LossGradient out;
    out.tokensScored = scoredTokens(windows, scoreFrom);
    auto load = [&](int l) {
        if (loader)
            loader(lm, l);
        else if (lm.loadsLayers())
            lm.loadLayer(l);
    };
    auto release = [&](int l) {
        if (lm.loadsLayers()) lm.releaseLayer(l);
    };
    auto hand = [&](std::size_t slot) { onGradient(ref.slots[slot].name, engine.takeGradient(slot)); };
    const double nll = engine.layerMajor(cutBatches(windows, options), scoreFrom, lossScale(out.tokensScored), ref, load,
                                         release, hand, out.peakActivationBytes, job);
    for (std::size_t i = 0; i < resident; ++i) hand(i);
    out.loss = nll / static_cast<double>(out.tokensScored);
    out.seconds = secondsSince(t0);
    return out;
}

LossGradient lossGradient(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                          const GradOptions& options, const JobContext& job) {
    const Impl& m = checkedImpl(lm, windows, scoreFrom);
    return options.float64 ? gradientIn<double>(m, windows, scoreFrom, options, job)
                           : gradientIn<float>(m, windows, scoreFrom, options, job);
}

DirectionalCurvature curvatureAlong(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                    int scoreFrom, const WeightDirection& v, bool keepHessianVector,
                                    const GradOptions& options, const JobContext& job) {
    const Impl& m = checkedImpl(lm, windows, scoreFrom);
    return options.float64 ? curvatureIn<double>(m, windows, scoreFrom, v, keepHessianVector, options, job)
                           : curvatureIn<float>(m, windows, scoreFrom, v, keepHessianVector, options, job);
}

double lossAlong(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                 const WeightDirection& v, double t, const GradOptions& options, const JobContext& job) {
    const Impl& m = checkedImpl(lm, windows, scoreFrom);
    return options.float64 ? lossIn<double>(m, windows, scoreFrom, v, t, options, job)
                           : lossIn<float>(m, windows, scoreFrom, v, t, options, job);
}

} // namespace qs::core
