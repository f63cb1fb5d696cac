// SPDX-License-Identifier: MIT
// The forward pass of CausalLm. Which float32 weights are held (construction, layerByLayer(),
// loadLayer / releaseLayer) is in causal_lm_weights.cpp.
#include "nn/causal_lm.h"

#include "nn/causal_lm_internal.h"
#include "quant/fake_quant.h"
#include "tensor/gemm.h"
#include "tensor/simd_f64.h"
#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <omp.h>

namespace qs::core {
using namespace causal_lm_detail;
namespace {

using ConstMatrixMap = Eigen::Map<const RowMatrixF>;

ConstMatrixView view(const RowMatrixF& m) {
    return {m.data(), m.rows(), m.cols(), m.cols()};
}
MatrixView view(RowMatrixF& m) {
    return {m.data(), m.rows(), m.cols(), m.cols()};
}
// Rows [row, row + rows) and columns [col, col + cols) of m (one window's attention head).
ConstMatrixView block(const RowMatrixF& m, std::int64_t row, std::int64_t rows, std::int64_t col, std::int64_t cols) {
    return {m.data() + row * m.cols() + col, rows, cols, m.cols()};
}
MatrixView block(RowMatrixF& m, std::int64_t row, std::int64_t rows, std::int64_t col, std::int64_t cols) {
    return {m.data() + row * m.cols() + col, rows, cols, m.cols()};
}

// Runs fn on each window's rows of m (`windows` windows stacked, [windows * seq, cols]) as a matrix
// of its own, so that hooks see one window as they do without batching: m itself for one window,
// else a copy written back.
template <class Fn>
void forEachWindowRows(RowMatrixF& m, int windows, Fn&& fn) {
    if (windows == 1) {
        fn(m);
        return;
    }
    const std::int64_t seq = m.rows() / windows;
    RowMatrixF part;
    for (int w = 0; w < windows; ++w) {
        part = m.middleRows(w * seq, seq);
        fn(part);
        m.middleRows(w * seq, seq) = part;
    }
}

void activate(Activation a, float* data, std::int64_t n) {
    // Eigen's vectorised exp/tanh (float32, about 1 ulp, like PyTorch's vectorised CPU kernels).
    Eigen::Map<Eigen::ArrayXf> x(data, n);
    switch (a) {
    case Activation::Silu:
        x = x / (1.0f + (-x).exp());
        break;
    case Activation::GeluTanh: {
        const float c = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));
        x = 0.5f * x * (1.0f + (c * (x + 0.044715f * x * x * x)).tanh());
        break;
    }
    case Activation::GeluErf: {
        const float r = static_cast<float>(1.0 / std::numbers::sqrt2);
        for (std::int64_t i = 0; i < n; ++i)
            data[i] = 0.5f * data[i] * (1.0f + std::erf(data[i] * r));
        break;
    }
    case Activation::Relu:
        x = x.max(0.0f);
        break;
    }
}

// act(gate) * up into gate, a chunk at a time so that each chunk is still in L1 for the product.
void activateGated(Activation a, float* gate, const float* up, std::int64_t n) {
    constexpr std::int64_t kChunk = 2048;
    for (std::int64_t i = 0; i < n; i += kChunk) {
        const std::int64_t len = std::min(kChunk, n - i);
        activate(a, gate + i, len);
        Eigen::Map<Eigen::ArrayXf>(gate + i, len) *= Eigen::Map<const Eigen::ArrayXf>(up + i, len);
    }
}

// Float64 sum of f(x) over the n floats of x, four lanes at a time (each in index order, added in a
// fixed order at the end), then the tail in order.
template <class F>
double sumF64(const float* x, std::int64_t n, F f) {
    simd::D4 lanes{};
    std::int64_t c = 0;
    for (; c + 4 <= n; c += 4) lanes += f(simd::loadFloats(x + c));
    double sum = simd::sum(lanes);
    for (; c < n; ++c) sum += f(static_cast<double>(x[c]));
    return sum;
}

// Sets this thread's OpenMP thread count to 1 for a scope (the setting is per thread; restored after).
class SerialScope {
public:
    explicit SerialScope(bool active) : m_active(active), m_saved(omp_get_max_threads()) {
        if (m_active) omp_set_num_threads(1);
    }
    ~SerialScope() {
        if (m_active) omp_set_num_threads(m_saved);
    }
    SerialScope(const SerialScope&) = delete;
    SerialScope& operator=(const SerialScope&) = delete;

private:
    bool m_active;
    int m_saved;
};

} // namespace

const Layer& CausalLm::Impl::layer(int index, const char* caller) const {
    if (index < 0 || index >= static_cast<int>(layers.size()))
        throw Error(std::string(caller) + ": no decoder layer " + std::to_string(index) + " (the model has " +
                    std::to_string(layers.size()) + ")");
    return layers[static_cast<std::size_t>(index)];
}

void CausalLm::Impl::norm(const Norm& n, const RowMatrixF& x, RowMatrixF& y) const {
    y.resize(x.rows(), x.cols());
    const float* w = n.weight->data();
    const float* b = n.bias ? n.bias->data() : nullptr;
    const std::int64_t cols = x.cols();
    for (std::int64_t r = 0; r < x.rows(); ++r) {
        const float* src = x.data() + r * cols;
        float* dst = y.data() + r * cols;
        if (normKind == NormKind::Rms) {
            // HF LlamaRMSNorm: weight * (x * rsqrt(mean(x^2) + eps)).
            const double sq = sumF64(src, cols, [](auto v) { return v * v; });
            const float variance = static_cast<float>(sq / static_cast<double>(cols));
            const float inv = static_cast<float>(1.0 / std::sqrt(static_cast<double>(variance + eps)));
            for (std::int64_t c = 0; c < cols; ++c)
                dst[c] = w[c] * (src[c] * inv);
        } else {
            const double mean = sumF64(src, cols, [](auto v) { return v; }) / static_cast<double>(cols);
            const double var =
                sumF64(src, cols, [mean](auto v) { return (v - mean) * (v - mean); }) / static_cast<double>(cols);
            const float m = static_cast<float>(mean);
            const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
            for (std::int64_t c = 0; c < cols; ++c)
                dst[c] = (src[c] - m) * inv * w[c] + (b ? b[c] : 0.0f);
        }
    }
}

std::shared_ptr<const Bf16Panels> CausalLm::Impl::cachedPanels(const std::shared_ptr<const void>& source,
                                                               const std::function<Bf16Panels()>& pack) const {
    Bf16PanelCache& cache = *bf16Panels;
    const std::lock_guard lock(cache.mutex);
    const auto it = cache.entries.find(source.get());
    // The same live buffer: a freed buffer's address may come back for another weight.
    if (it != cache.entries.end() && !it->second.source.owner_before(source) && !source.owner_before(it->second.source))
        return it->second.panels;
    std::erase_if(cache.entries, [](const auto& entry) { return entry.second.source.expired(); });
    Bf16Panels packed = pack();
    const std::size_t bytes = packed.bytes();
    std::shared_ptr<const Bf16Panels> panels = meteredBuffer(std::move(packed), bytes, meter);
    cache.entries[source.get()] = {source, panels};
    return panels;
}

std::shared_ptr<const Bf16Panels> CausalLm::Impl::panelsOf(const Linear& l) const {
    if (l.compact)
        return cachedPanels(l.compact, [&] {
            return l.inOut ? Bf16Panels::fromColumns(l.compact->view()) : Bf16Panels::fromRows(l.compact->view());
        });
    return cachedPanels(l.weight, [&] {
        return l.inOut ? Bf16Panels::fromColumns({l.weight->data(), l.in, l.out, l.out})
                       : Bf16Panels::fromRows({l.weight->data(), l.out, l.in, l.in});
    });
}

std::shared_ptr<const Bf16Panels> CausalLm::Impl::headPanels() const {
    return cachedPanels(head, [&] { return Bf16Panels::fromRows({head->data(), vocab, hidden, hidden}); });
}

RowMatrixF CausalLm::Impl::linear(const Linear& l, const RowMatrixF& x) const {
    RowMatrixF y(x.rows(), l.out);
    const float* bias = l.bias ? l.bias->data() : nullptr;
    if (hooks.bf16Products) {
        gemmBf16(view(x), *panelsOf(l), view(y), bias);
    } else if (l.compact) {
        if (l.inOut)
            gemmNN(view(x), l.compact->view(), view(y), bias);
        else
            gemmNT(view(x), l.compact->view(), view(y), bias);
    } else if (l.inOut) {
        gemmNN(view(x), {l.weight->data(), l.in, l.out, l.out}, view(y), bias);
    } else {
        gemmNT(view(x), {l.weight->data(), l.out, l.in, l.in}, view(y), bias);
    }
    return y;
}

namespace {

// Softmax in place over row[lo..hi] (inclusive) after dividing by scaleDiv.
void softmaxRange(float* row, std::int64_t lo, std::int64_t hi, float scaleDiv) {
    Eigen::Map<Eigen::ArrayXf> live(row + lo, hi - lo + 1);
    // The largest scaled score is the largest score scaled (division by a positive number and its
    // rounding keep the order), so the scaling joins the exp's pass.
    const float mx = live.maxCoeff() / scaleDiv;
    live = (live / scaleDiv - mx).exp();
    live *= 1.0f / live.sum();
}

// Softmax over two key ranges [lo, sinkEnd) and [recentLo, i] of one query's row (sinks, then the
// most recent keys), every other key 0. The ranges are disjoint and both non-empty.
void softmaxTwoRanges(float* row, std::int64_t lo, std::int64_t sinkEnd, std::int64_t recentLo, std::int64_t i,
                      float scaleDiv) {
    Eigen::Map<Eigen::ArrayXf> sinks(row + lo, sinkEnd - lo), recent(row + recentLo, i - recentLo + 1);
    sinks /= scaleDiv;
    recent /= scaleDiv;
    const float m = std::max(sinks.maxCoeff(), recent.maxCoeff());
    sinks = (sinks - m).exp();
    recent = (recent - m).exp();
    const float inv = 1.0f / (sinks.sum() + recent.sum());
    sinks *= inv;
    recent *= inv;
    std::fill(row + sinkEnd, row + recentLo, 0.0f);
}

} // namespace

RowMatrixF CausalLm::Impl::attention(const RowMatrixF& q, const RowMatrixF& k, const RowMatrixF& v, int windows,
                                     int window, int layer) const {
    const std::int64_t seq = q.rows() / windows;
    const int hd = headDim, group = numHeads / numKvHeads;
    // PyTorch divides the scores by a float32 sqrt(head_dim).
    const float scaleDiv = static_cast<float>(std::sqrt(static_cast<double>(hd)));
    const std::vector<int>* spans =
        layer < static_cast<int>(hooks.attentionSpans.size()) ? &hooks.attentionSpans[static_cast<std::size_t>(layer)]
                                                             : nullptr;
    const std::int64_t sinks = hooks.attentionSinks;
    RowMatrixF out(q.rows(), static_cast<std::int64_t>(numHeads) * hd);
#pragma omp parallel
    {
        // Products inside this region run single-threaded with single-thread blocking, so results do
        // not depend on the thread count.
        omp_set_num_threads(1);
        RowMatrixF scores(seq, seq);
#pragma omp for schedule(static)
        for (int wh = 0; wh < windows * numHeads; ++wh) {
            const std::int64_t first = wh / numHeads * seq; // the window's first row
            const int h = wh % numHeads, g = h / group;
            const std::int64_t span =
                spans && h < static_cast<int>(spans->size()) ? (*spans)[static_cast<std::size_t>(h)] : 0;
            // Only the causal (lower) triangle is computed and used.
            gemmNT(block(q, first, seq, static_cast<std::int64_t>(h) * hd, hd),
                   block(k, first, seq, static_cast<std::int64_t>(g) * hd, hd), view(scores), nullptr,
                   GemmShape::Lower);
            // Causal (and sliding-window) softmax in float32; masked keys get probability 0.
            for (std::int64_t i = 0; i < seq; ++i) {
                float* row = scores.data() + i * seq;
                const std::int64_t lo = window > 0 ? std::max<std::int64_t>(0, i - window + 1) : 0;
                const std::int64_t recentLo = span > 0 ? std::max(lo, i - span + 1) : lo;
                const std::int64_t sinkEnd = std::min(sinks, recentLo);
                if (recentLo == lo) // the span covers every key the query sees: full attention
                    softmaxRange(row, lo, i, scaleDiv);
                else if (sinkEnd <= lo) {
                    softmaxRange(row, recentLo, i, scaleDiv);
                    std::fill(row + lo, row + recentLo, 0.0f);
                } else
                    softmaxTwoRanges(row, lo, sinkEnd, recentLo, i, scaleDiv);
                std::fill(row, row + lo, 0.0f);
            }
            if (hooks.attentionObserver) hooks.attentionObserver(layer, h, scores);
            gemmNN(view(scores), block(v, first, seq, static_cast<std::int64_t>(g) * hd, hd),
                   block(out, first, seq, static_cast<std::int64_t>(h) * hd, hd), nullptr, GemmShape::Lower);
        }
    }
    return out;
}

std::vector<LinearInputSite> CausalLm::Impl::sites(const Layer& l) const {
    auto site = [](std::initializer_list<const Linear*> ls) {
        LinearInputSite s;
        const std::string& first = (*ls.begin())->name;
        s.name = first.substr(0, first.size() - 7); // drop ".weight"
        for (const Linear* x : ls) s.weights.push_back(x->name);
        return s;
    };
    std::vector<LinearInputSite> out;
    out.push_back(l.fusedQkv ? site({&l.qkv}) : site({&l.q, &l.k, &l.v}));
    out.push_back(site({&l.o}));
    out.push_back(l.gated ? site({&l.gate, &l.up}) : site({&l.up}));
    out.push_back(site({&l.down}));
    return out;
}

void CausalLm::Impl::layerForward(const Layer& l, RowMatrixF& x, int windows, const Rope::Table& rotation, int index,
                                  const LinearInputObserver* observer) const {
    const std::int64_t seq = x.rows() / windows;
    std::vector<LinearInputSite> siteList;
    if (observer) siteList = sites(l);
    // A site input: basis change, activation quantization, then the observer, each on one window.
    auto observe = [&](int s, RowMatrixF& in) {
        if (hooks.siteTransform) forEachWindowRows(in, windows, [&](RowMatrixF& w) { hooks.siteTransform(index, s, w); });
        if (hooks.siteQuantize)
            forEachWindowRows(in, windows, [&](RowMatrixF& w) { hooks.siteQuantize(index, s, w); });
        else if (hooks.activation)
            for (int w = 0; w < windows; ++w) {
                float* rows = in.data() + w * seq * in.cols();
                fakeQuantize(rows, seq, in.cols(), *hooks.activation, rows);
            }
        if (observer)
            forEachWindowRows(in, windows,
                              [&](RowMatrixF& w) { (*observer)(index, siteList[static_cast<std::size_t>(s)], w); });
    };
    RowMatrixF h;
    norm(l.attnNorm, x, h);
    observe(0, h);
    RowMatrixF q, k, v;
    if (l.fusedQkv) {
        // [q | k | v], sized as buildLayer() checked it (GPT-2: hidden each).
        const RowMatrixF qkv = linear(l.qkv, h);
        const std::int64_t qDim = static_cast<std::int64_t>(numHeads) * headDim;
        const std::int64_t kvDim = static_cast<std::int64_t>(numKvHeads) * headDim;
        q = qkv.leftCols(qDim);
        k = qkv.middleCols(qDim, kvDim);
        v = qkv.rightCols(kvDim);
    } else {
        q = linear(l.q, h);
        k = linear(l.k, h);
        v = linear(l.v, h);
    }
    for (int w = 0; w < windows; ++w) {
        float* kw = k.data() + w * seq * k.cols();
        float* vw = v.data() + w * seq * v.cols();
        if (useRope) {
            rope.apply(rotation, q.data() + w * seq * q.cols(), seq, numHeads);
            rope.apply(rotation, kw, seq, numKvHeads);
        }
        if (!hooks.kvQuantize && hooks.kvCache) {
            fakeQuantize(kw, seq * numKvHeads, headDim, *hooks.kvCache, kw);
            fakeQuantize(vw, seq * numKvHeads, headDim, *hooks.kvCache, vw);
        }
    }
    if (hooks.kvQuantize) {
        if (windows == 1)
            hooks.kvQuantize(index, k, v);
        else
            for (int w = 0; w < windows; ++w) {
                RowMatrixF kw = k.middleRows(w * seq, seq), vw = v.middleRows(w * seq, seq);
                hooks.kvQuantize(index, kw, vw);
                k.middleRows(w * seq, seq) = kw;
                v.middleRows(w * seq, seq) = vw;
            }
    }
    RowMatrixF a = attention(q, k, v, windows, l.slidingWindow, index);
    observe(1, a);
    x += linear(l.o, a);

    norm(l.mlpNorm, x, h);
    observe(2, h);
    RowMatrixF m;
    if (l.gated) {
        m = linear(l.gate, h);
        activateGated(activation, m.data(), linear(l.up, h).data(), m.size());
    } else {
        m = linear(l.up, h);
        activate(activation, m.data(), m.size());
    }
    observe(3, m);
    x += linear(l.down, m);
}

CausalLm::CausalLm(CausalLm&&) noexcept = default;
CausalLm& CausalLm::operator=(CausalLm&&) noexcept = default;
CausalLm::~CausalLm() = default;

const ModelConfig& CausalLm::config() const {
    return m_impl->config;
}
int CausalLm::vocabSize() const {
    return m_impl->vocab;
}
void CausalLm::setHooks(const ForwardHooks& hooks) {
    m_impl->hooks = hooks;
    if (!hooks.bf16Products) return;
    // Packs the held weights now, as a model's float32 weights are converted when it is built, rather
    // than inside the first evaluation (a layer loaded later is packed on first use).
    for (const Layer& l : m_impl->layers)
        forEachLinear(l, [&](const Linear& x) {
            if (x.weight || x.compact) m_impl->panelsOf(x);
        });
    if (m_impl->head) m_impl->headPanels();
}
const ForwardHooks& CausalLm::hooks() const {
    return m_impl->hooks;
}

RowMatrixF CausalLm::Impl::embedTokens(std::span<const std::int32_t> ids) const {
    const auto seq = static_cast<std::int64_t>(ids.size());
    if (seq == 0) throw Error("forward: empty token sequence");
    if (positions && seq > maxPositions)
        throw Error("forward: " + std::to_string(seq) + " tokens exceed the model's " +
                    std::to_string(maxPositions) + " learned positions");
    RowMatrixF x(seq, hidden);
    const ConstMatrixMap table(embed->data(), vocab, hidden);
    for (std::int64_t i = 0; i < seq; ++i) {
        const std::int32_t id = ids[static_cast<std::size_t>(i)];
        if (id < 0 || id >= vocab)
            throw Error("forward: token id " + std::to_string(id) + " at position " + std::to_string(i) +
                        " is outside the vocabulary (0.." + std::to_string(vocab - 1) + ")");
        x.row(i) = table.row(id);
    }
    if (positions) x += ConstMatrixMap(positions->data(), maxPositions, hidden).topRows(seq);
    return x;
}

RowMatrixF CausalLm::Impl::logits(const RowMatrixF& x) const {
    RowMatrixF h;
    norm(finalNorm, x, h);
    RowMatrixF out(x.rows(), vocab);
    if (hooks.bf16Products)
        gemmBf16(view(h), *headPanels(), view(out));
    else
        gemmNT(view(h), {head->data(), vocab, hidden, hidden}, view(out));
    return out;
}

int CausalLm::numLayers() const {
    return static_cast<int>(m_impl->layers.size());
}

std::vector<LinearInputSite> CausalLm::layerSites(int layer) const {
    return m_impl->sites(m_impl->layer(layer, "layerSites"));
}

RowMatrixF CausalLm::embed(std::span<const std::int32_t> ids) const {
    const SerialScope serial(m_impl->serialFor(static_cast<std::int64_t>(ids.size())));
    return m_impl->embedTokens(ids);
}

void CausalLm::runLayer(int layer, RowMatrixF& x, const LinearInputObserver* observer, int windows) const {
    const Impl& m = *m_impl;
    const Layer& l = m.layer(layer, "runLayer");
    if (!l.loaded)
        throw Error("runLayer: decoder layer " + std::to_string(layer) +
                    " is not loaded (call loadLayer first)");
    if (x.cols() != m.hidden || x.rows() == 0 || windows < 1 || x.rows() % windows != 0)
        throw Error("runLayer: input is " + std::to_string(x.rows()) + " x " + std::to_string(x.cols()) +
                    ", expected [" + std::to_string(windows) + " * seq > 0, " + std::to_string(m.hidden) + "]");
    const SerialScope serial(m.serialFor(x.rows()));
    const Rope::Table rotation = m.useRope ? m.rope.table(x.rows() / windows) : Rope::Table{};
    m.layerForward(l, x, windows, rotation, layer, observer);
}

RowMatrixF CausalLm::logits(const RowMatrixF& x) const {
    if (x.cols() != m_impl->hidden || x.rows() == 0) throw Error("logits: input has the wrong shape");
    const SerialScope serial(m_impl->serialFor(x.rows()));
    return m_impl->logits(x);
}

void CausalLm::Impl::checkLoaded(const char* caller) const {
    for (std::size_t i = 0; i < layers.size(); ++i)
        if (!layers[i].loaded)
            throw Error(std::string(caller) + ": decoder layer " + std::to_string(i) +
                        " is not loaded (a layerByLayer model runs through loadLayer and runLayer)");
}

RowMatrixF CausalLm::forward(std::span<const std::int32_t> ids, std::vector<RowMatrixF>* hiddenStates) const {
    const Impl& m = *m_impl;
    m.checkLoaded("forward");
    const SerialScope serial(m.serialFor(static_cast<std::int64_t>(ids.size())));
    RowMatrixF x = m.embedTokens(ids);
    if (hiddenStates) {
        hiddenStates->clear();
        hiddenStates->push_back(x);
    }
    const Rope::Table rotation = m.useRope ? m.rope.table(x.rows()) : Rope::Table{};
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        m.layerForward(m.layers[i], x, 1, rotation, static_cast<int>(i), nullptr);
        if (hiddenStates) hiddenStates->push_back(x);
    }
    return m.logits(x);
}

RowMatrixF CausalLm::embedBatch(std::span<const std::span<const std::int32_t>> windows) const {
    const Impl& m = *m_impl;
    if (windows.empty()) return {};
    const auto seq = static_cast<std::int64_t>(windows.front().size());
    for (std::size_t w = 1; w < windows.size(); ++w)
        if (static_cast<std::int64_t>(windows[w].size()) != seq)
            throw Error("forwardBatch: window " + std::to_string(w) + " has " + std::to_string(windows[w].size()) +
                        " tokens, window 0 has " + std::to_string(seq) + " (a batch's windows are of one length)");
    const auto count = static_cast<std::int64_t>(windows.size());
    const SerialScope serial(m.serialFor(count * seq));
    RowMatrixF x(count * seq, m.hidden);
    for (std::int64_t w = 0; w < count; ++w)
        x.middleRows(w * seq, seq) = m.embedTokens(windows[static_cast<std::size_t>(w)]);
    return x;
}

std::vector<RowMatrixF> CausalLm::forwardBatch(std::span<const std::span<const std::int32_t>> windows) const {
    const Impl& m = *m_impl;
    m.checkLoaded("forwardBatch");
    if (windows.empty()) return {};
    RowMatrixF x = embedBatch(windows);
    const int count = static_cast<int>(windows.size());
    const SerialScope serial(m.serialFor(x.rows()));
    const Rope::Table rotation = m.useRope ? m.rope.table(static_cast<std::int64_t>(windows.front().size())) : Rope::Table{};
    for (std::size_t i = 0; i < m.layers.size(); ++i)
        m.layerForward(m.layers[i], x, count, rotation, static_cast<int>(i), nullptr);
    return unstackRows(m.logits(x), windows.size());
}

RowMatrixF stackRows(std::span<const RowMatrixF> parts) {
    if (parts.empty()) return {};
    const std::int64_t rows = parts.front().rows();
    RowMatrixF out(rows * static_cast<std::int64_t>(parts.size()), parts.front().cols());
    for (std::size_t p = 0; p < parts.size(); ++p) out.middleRows(static_cast<std::int64_t>(p) * rows, rows) = parts[p];
    return out;
}

std::vector<RowMatrixF> unstackRows(RowMatrixF stacked, std::size_t parts) {
    std::vector<RowMatrixF> out(parts);
    if (parts == 1) {
        out[0] = std::move(stacked);
        return out;
    }
    const std::int64_t rows = stacked.rows() / static_cast<std::int64_t>(parts);
    for (std::size_t p = 0; p < parts; ++p)
        out[p] = stacked.middleRows(static_cast<std::int64_t>(p) * rows, rows);
    return out;
}

} // namespace qs::core
