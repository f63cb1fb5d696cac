// SPDX-License-Identifier: MIT
#include "nn/causal_lm.h"

#include "quant/fake_quant.h"
#include "tensor/error.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <numbers>
#include <omp.h>
#include <set>

namespace qs::core {
namespace {

using Buffer = std::shared_ptr<const std::vector<float>>;
using ConstMatrixMap = Eigen::Map<const RowMatrixF>;
using ConstRowMap = Eigen::Map<const Eigen::RowVectorXf>;

struct Linear {
    std::string name;
    Buffer weight; ///< [out, in], or [in, out] when inOut
    Buffer bias;   ///< [out] or null
    int out = 0, in = 0;
    bool inOut = false; ///< stored [in, out] (GPT-2 Conv1D)
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

enum class NormKind { Rms, LayerNorm };
enum class Activation { Silu, GeluTanh, GeluErf, Relu };

Activation parseActivation(const std::string& name) {
    if (name == "silu" || name == "swish") return Activation::Silu;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
    if (name == "gelu") return Activation::GeluErf;
    if (name == "relu") return Activation::Relu;
    throw Error("activation function '" + name +
                "' is not supported (silu, gelu_new, gelu_pytorch_tanh, gelu, relu)");
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

int optionalInt(const nlohmann::json& raw, const char* key) {
    const auto it = raw.is_object() ? raw.find(key) : raw.end();
    if (it == raw.end() || !it->is_number_integer()) return 0;
    return std::max(0, it->get<int>());
}

// Below this many multiply-adds per hidden x hidden projection (seq * hidden^2) a sequence runs on
// the calling thread: waking threads for every matrix product costs more than it saves, badly so
// when other processes share the cores. Larger sequences use the OpenMP threads inside each step.
constexpr double kParallelMinWork = 1 << 24;

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

bool optionalBool(const nlohmann::json& raw, const char* key) {
    const auto it = raw.is_object() ? raw.find(key) : raw.end();
    return it != raw.end() && it->is_boolean() && it->get<bool>();
}

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

// Every weight buffer is counted by the meter for as long as it lives.
Buffer makeBuffer(std::vector<float> data, const std::shared_ptr<WeightMeter>& meter) {
    const std::size_t bytes = data.size() * sizeof(float);
    Buffer buffer(new const std::vector<float>(std::move(data)), [meter, bytes](const std::vector<float>* p) {
        delete p;
        meter->remove(bytes);
    });
    meter->add(bytes);
    return buffer;
}

// Reads weights once as float32, taking replaced ones instead of the stored values.
class Loader {
public:
    Loader(const Model& model, std::map<std::string, std::vector<float>>& replaced,
           std::shared_ptr<WeightMeter> meter)
        : m_model(model), m_replaced(replaced), m_meter(std::move(meter)) {}

    // When false, get() checks a weight's presence and size but converts nothing and returns null
    // (the decoder layers of a layerByLayer() model until loadLayer()).
    void setReading(bool read) { m_read = read; }
    bool reading() const { return m_read; }

    bool has(const std::string& name) const { return m_model.find(name) != nullptr; }

    const WeightInfo& info(const std::string& name) const {
        const WeightInfo* w = m_model.find(name);
        if (!w) throw Error(m_model.path().string() + ": weight '" + name + "' is missing");
        return *w;
    }

    Buffer get(const std::string& name, std::int64_t expectedNumel) {
        if (const auto it = m_cache.find(name); it != m_cache.end()) return it->second;
        const WeightInfo& w = info(name);
        if (numel(w.shape) != expectedNumel)
            throw Error(m_model.path().string() + ": weight '" + name + "' has shape " +
                        shapeToString(w.shape) + ", expected " + std::to_string(expectedNumel) + " elements");
        if (!m_read) return nullptr;
        std::vector<float> data;
        if (auto it = m_replaced.find(name); it != m_replaced.end()) {
            if (static_cast<std::int64_t>(it->second.size()) != expectedNumel)
                throw Error("replaced weight '" + name + "' has " + std::to_string(it->second.size()) +
                            " values, expected " + std::to_string(expectedNumel));
            data = std::move(it->second);
            m_replaced.erase(it);
        } else {
            const Tensor t = m_model.weight(name);
            if (!isFloatConvertible(t.dtype()))
                throw Error(m_model.path().string() + ": weight '" + name + "' of type " +
                            std::string(dtypeName(t.dtype())) + " cannot be read as float32");
            data = t.toFloats();
        }
        Buffer buffer = makeBuffer(std::move(data), m_meter);
        m_cache.emplace(name, buffer);
        return buffer;
    }

    // A Linear [out, in] with its optional "<base>.bias".
    Linear linear(const std::string& base, int out, int in) {
        Linear l;
        l.name = base + ".weight";
        l.out = out;
        l.in = in;
        const WeightInfo& w = info(l.name);
        l.inOut = w.transposed;
        if (w.shape.size() != 2 || w.matrixRows() != out || w.matrixCols() != in)
            throw Error(m_model.path().string() + ": weight '" + l.name + "' has shape " +
                        shapeToString(w.shape) + ", expected " + std::to_string(out) + " x " +
                        std::to_string(in) + " (out x in)");
        l.weight = get(l.name, static_cast<std::int64_t>(out) * in);
        if (has(base + ".bias")) l.bias = get(base + ".bias", out);
        return l;
    }

    Norm norm(const std::string& base, int size, bool withBias) {
        Norm n;
        n.name = base + ".weight";
        n.weight = get(n.name, size);
        if (withBias) n.bias = get(base + ".bias", size);
        return n;
    }

private:
    const Model& m_model;
    std::map<std::string, std::vector<float>>& m_replaced;
    std::shared_ptr<WeightMeter> m_meter;
    std::map<std::string, Buffer> m_cache;
    bool m_read = true;
};

// `what` says where the names were looked for, e.g. "by the forward pass".
void throwUnused(const std::map<std::string, std::vector<float>>& replaced, const std::string& what) {
    if (replaced.empty()) return;
    std::string names;
    for (const auto& [name, v] : replaced)
        names += (names.empty() ? "" : ", ") + name;
    throw Error("replaced weights not used " + what + ": " + names);
}

using SlotFn = std::function<void(const std::string&, Buffer&)>;

// Calls f(name, buffer) for every non-null weight buffer of a decoder layer.
void forEachLayerSlot(Layer& l, const SlotFn& f) {
    auto slot = [&](const std::string& weightName, Buffer& weight, Buffer& bias) {
        if (weight) f(weightName, weight);
        if (bias) f(weightName.substr(0, weightName.size() - 7) + ".bias", bias); // ".weight" -> ".bias"
    };
    slot(l.attnNorm.name, l.attnNorm.weight, l.attnNorm.bias);
    slot(l.mlpNorm.name, l.mlpNorm.weight, l.mlpNorm.bias);
    for (Linear* x : {&l.qkv, &l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
        slot(x->name, x->weight, x->bias);
}

} // namespace

struct CausalLm::Impl {
    ModelConfig config;
    Rope rope;
    bool useRope = true;
    NormKind normKind = NormKind::Rms;
    Activation activation = Activation::Silu;
    float eps = 1e-5f;
    int hidden = 0, vocab = 0, numHeads = 0, numKvHeads = 0, headDim = 0;
    Buffer embed;     ///< [vocab, hidden]
    Buffer positions; ///< GPT-2 wpe [maxPositions, hidden]
    int maxPositions = 0;
    std::vector<Layer> layers;
    Norm finalNorm;
    Buffer head; ///< [vocab, hidden]; the same buffer as embed when tied
    std::string embedName, positionsName, headName;
    ForwardHooks hooks;
    /// Counts this model's weight buffers (shared with the models derived from it).
    std::shared_ptr<WeightMeter> meter = std::make_shared<WeightMeter>();
    /// layerByLayer(): the model loadLayer() reads from; null when every layer is always loaded.
    const Model* source = nullptr;
    std::string gpt2Prefix; ///< "transformer." or ""
    int mistralWindow = 0;  ///< Mistral sliding window of every layer (0 = none)
    int qwenWindow = 0;     ///< Qwen2 sliding window of layers >= qwenFirstWindowLayer (0 = none)
    int qwenFirstWindowLayer = 0;

    // Loads the resident weights, and every decoder layer's weights when `readLayers` (else only
    // checks them).
    void build(const Model& model, Loader& loader, const JobContext& ctx, bool readLayers);
    Layer buildLayer(Loader& loader, int index) const;
    // Calls f(name, buffer) for every non-null weight slot (the tied head is reported under the embedding).
    void forEachSlot(const SlotFn& f);
    const Layer& layer(int index, const char* caller) const;

    void norm(const Norm& n, const RowMatrixF& x, RowMatrixF& y) const;
    RowMatrixF linear(const Linear& l, const RowMatrixF& x) const;
    void quantizeActivation(RowMatrixF& x) const {
        if (hooks.activation) fakeQuantize(x.data(), x.rows(), x.cols(), *hooks.activation, x.data());
    }
    RowMatrixF attention(const RowMatrixF& q, const RowMatrixF& k, const RowMatrixF& v, int window) const;
    std::vector<LinearInputSite> sites(const Layer& l) const;
    void layerForward(const Layer& l, RowMatrixF& x, const Rope::Table& rotation, int index,
                      const LinearInputObserver* observer) const;
    RowMatrixF embedTokens(std::span<const std::int32_t> ids) const;
    RowMatrixF logits(const RowMatrixF& x) const;
    bool serialFor(std::int64_t seq) const {
        return static_cast<double>(seq) * hidden * hidden < kParallelMinWork && omp_get_max_threads() > 1;
    }
};

void CausalLm::Impl::build(const Model& model, Loader& loader, const JobContext& ctx, bool readLayers) {
    config = model.config();
    hidden = config.hiddenSize;
    vocab = config.vocabSize;
    numHeads = config.numHeads;
    numKvHeads = config.numKvHeads;
    headDim = config.headDim;
    eps = static_cast<float>(config.rmsNormEps);
    activation = parseActivation(config.hiddenAct);
    const long long total = config.numLayers + 1;

    if (config.arch == Architecture::Gpt2) {
        useRope = false;
        normKind = NormKind::LayerNorm;
        gpt2Prefix = loader.has("transformer.wte.weight") ? "transformer." : "";
        const std::string& p = gpt2Prefix;
        embedName = p + "wte.weight";
        embed = loader.get(embedName, static_cast<std::int64_t>(vocab) * hidden);
        const WeightInfo& wpe = loader.info(p + "wpe.weight");
        if (wpe.shape.size() != 2 || wpe.shape[1] != hidden)
            throw Error(model.path().string() + ": wpe.weight has shape " + shapeToString(wpe.shape));
        maxPositions = static_cast<int>(wpe.shape[0]);
        positionsName = p + "wpe.weight";
        positions = loader.get(positionsName, numel(wpe.shape));
    } else {
        rope = Rope(config);
        normKind = NormKind::Rms;
        embedName = "model.embed_tokens.weight";
        embed = loader.get(embedName, static_cast<std::int64_t>(vocab) * hidden);
        if (config.arch == Architecture::Mistral) mistralWindow = optionalInt(config.raw, "sliding_window");
        if (config.arch == Architecture::Qwen2 && optionalBool(config.raw, "use_sliding_window")) {
            qwenWindow = optionalInt(config.raw, "sliding_window");
            qwenFirstWindowLayer = optionalInt(config.raw, "max_window_layers");
        }
    }
    loader.setReading(readLayers);
    for (int i = 0; i < config.numLayers; ++i) {
        ctx.step(i, total, "loading layer " + std::to_string(i));
        layers.push_back(buildLayer(loader, i));
    }
    loader.setReading(true);
    if (config.arch == Architecture::Gpt2) {
        finalNorm = loader.norm(gpt2Prefix + "ln_f", hidden, true);
        head = embed;
        headName = embedName;
    } else {
        finalNorm = loader.norm("model.norm", hidden, false);
        if (config.tieWordEmbeddings || !loader.has("lm_head.weight")) {
            if (!config.tieWordEmbeddings)
                throw Error(model.path().string() +
                            ": lm_head.weight is missing and tie_word_embeddings is false");
            head = embed;
            headName = embedName;
        } else {
            headName = "lm_head.weight";
            head = loader.get(headName, static_cast<std::int64_t>(vocab) * hidden);
        }
    }
    ctx.step(total, total, "weights loaded");
}

Layer CausalLm::Impl::buildLayer(Loader& loader, int i) const {
    const int qDim = numHeads * headDim, kvDim = numKvHeads * headDim, inter = config.intermediateSize;
    Layer l;
    l.loaded = loader.reading();
    if (config.arch == Architecture::Gpt2) {
        const std::string b = gpt2Prefix + "h." + std::to_string(i) + ".";
        l.attnNorm = loader.norm(b + "ln_1", hidden, true);
        l.mlpNorm = loader.norm(b + "ln_2", hidden, true);
        l.fusedQkv = true;
        l.qkv = loader.linear(b + "attn.c_attn", 3 * hidden, hidden);
        l.o = loader.linear(b + "attn.c_proj", hidden, hidden);
        l.gated = false;
        l.up = loader.linear(b + "mlp.c_fc", inter, hidden);
        l.down = loader.linear(b + "mlp.c_proj", hidden, inter);
    } else {
        const std::string b = "model.layers." + std::to_string(i) + ".";
        l.attnNorm = loader.norm(b + "input_layernorm", hidden, false);
        l.mlpNorm = loader.norm(b + "post_attention_layernorm", hidden, false);
        l.q = loader.linear(b + "self_attn.q_proj", qDim, hidden);
        l.k = loader.linear(b + "self_attn.k_proj", kvDim, hidden);
        l.v = loader.linear(b + "self_attn.v_proj", kvDim, hidden);
        l.o = loader.linear(b + "self_attn.o_proj", hidden, qDim);
        l.gate = loader.linear(b + "mlp.gate_proj", inter, hidden);
        l.up = loader.linear(b + "mlp.up_proj", inter, hidden);
        l.down = loader.linear(b + "mlp.down_proj", hidden, inter);
        l.slidingWindow = qwenWindow > 0 && i >= qwenFirstWindowLayer ? qwenWindow : mistralWindow;
    }
    return l;
}

void CausalLm::Impl::forEachSlot(const SlotFn& f) {
    f(embedName, embed);
    if (positions) f(positionsName, positions);
    for (auto& l : layers)
        forEachLayerSlot(l, f);
    f(finalNorm.name, finalNorm.weight);
    if (finalNorm.bias) f(finalNorm.name.substr(0, finalNorm.name.size() - 7) + ".bias", finalNorm.bias);
    if (headName != embedName) f(headName, head);
}

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
            double sq = 0;
            for (std::int64_t c = 0; c < cols; ++c)
                sq += static_cast<double>(src[c]) * src[c];
            const float variance = static_cast<float>(sq / static_cast<double>(cols));
            const float inv = static_cast<float>(1.0 / std::sqrt(static_cast<double>(variance + eps)));
            for (std::int64_t c = 0; c < cols; ++c)
                dst[c] = w[c] * (src[c] * inv);
        } else {
            double sum = 0;
            for (std::int64_t c = 0; c < cols; ++c)
                sum += src[c];
            const double mean = sum / static_cast<double>(cols);
            double var = 0;
            for (std::int64_t c = 0; c < cols; ++c)
                var += (src[c] - mean) * (src[c] - mean);
            var /= static_cast<double>(cols);
            const float m = static_cast<float>(mean);
            const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
            for (std::int64_t c = 0; c < cols; ++c)
                dst[c] = (src[c] - m) * inv * w[c] + (b ? b[c] : 0.0f);
        }
    }
}

RowMatrixF CausalLm::Impl::linear(const Linear& l, const RowMatrixF& x) const {
    RowMatrixF y(x.rows(), l.out);
    if (l.inOut)
        y.noalias() = x * ConstMatrixMap(l.weight->data(), l.in, l.out);
    else
        y.noalias() = x * ConstMatrixMap(l.weight->data(), l.out, l.in).transpose();
    if (l.bias) y.rowwise() += ConstRowMap(l.bias->data(), l.out);
    return y;
}

RowMatrixF CausalLm::Impl::attention(const RowMatrixF& q, const RowMatrixF& k, const RowMatrixF& v,
                                     int window) const {
    const std::int64_t seq = q.rows();
    const int hd = headDim, group = numHeads / numKvHeads;
    // PyTorch divides the scores by a float32 sqrt(head_dim).
    const float scaleDiv = static_cast<float>(std::sqrt(static_cast<double>(hd)));
    RowMatrixF out(seq, static_cast<std::int64_t>(numHeads) * hd);
#pragma omp parallel
    {
        // Products inside this region run single-threaded with single-thread blocking, so results do
        // not depend on the thread count.
        omp_set_num_threads(1);
        RowMatrixF scores(seq, seq);
#pragma omp for schedule(static)
        for (int h = 0; h < numHeads; ++h) {
            const int g = h / group;
            // Only the causal (lower) triangle is computed and used.
            scores.triangularView<Eigen::Lower>() =
                q.middleCols(static_cast<std::int64_t>(h) * hd, hd) *
                k.middleCols(static_cast<std::int64_t>(g) * hd, hd).transpose();
            // Causal (and sliding-window) softmax in float32; masked keys get probability 0.
            for (std::int64_t i = 0; i < seq; ++i) {
                float* row = scores.data() + i * seq;
                const std::int64_t lo = window > 0 ? std::max<std::int64_t>(0, i - window + 1) : 0;
                Eigen::Map<Eigen::ArrayXf> live(row + lo, i - lo + 1);
                live /= scaleDiv;
                live = (live - live.maxCoeff()).exp();
                live *= 1.0f / live.sum();
                std::fill(row, row + lo, 0.0f);
            }
            out.middleCols(static_cast<std::int64_t>(h) * hd, hd).noalias() =
                scores.triangularView<Eigen::Lower>() * v.middleCols(static_cast<std::int64_t>(g) * hd, hd);
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

void CausalLm::Impl::layerForward(const Layer& l, RowMatrixF& x, const Rope::Table& rotation, int index,
                                  const LinearInputObserver* observer) const {
    const std::int64_t seq = x.rows();
    std::vector<LinearInputSite> siteList;
    if (observer) siteList = sites(l);
    // A site input: basis change, activation quantization, then the observer.
    auto observe = [&](int s, RowMatrixF& in) {
        if (hooks.siteTransform) hooks.siteTransform(index, s, in);
        if (hooks.siteQuantize)
            hooks.siteQuantize(index, s, in);
        else
            quantizeActivation(in);
        if (observer) (*observer)(index, siteList[static_cast<std::size_t>(s)], in);
    };
    RowMatrixF h;
    norm(l.attnNorm, x, h);
    observe(0, h);
    RowMatrixF q, k, v;
    if (l.fusedQkv) {
        const RowMatrixF qkv = linear(l.qkv, h);
        q = qkv.leftCols(hidden);
        k = qkv.middleCols(hidden, hidden);
        v = qkv.rightCols(hidden);
    } else {
        q = linear(l.q, h);
        k = linear(l.k, h);
        v = linear(l.v, h);
    }
    if (useRope) {
        rope.apply(rotation, q.data(), seq, numHeads);
        rope.apply(rotation, k.data(), seq, numKvHeads);
    }
    if (hooks.kvQuantize) {
        hooks.kvQuantize(index, k, v);
    } else if (hooks.kvCache) {
        fakeQuantize(k.data(), seq * numKvHeads, headDim, *hooks.kvCache, k.data());
        fakeQuantize(v.data(), seq * numKvHeads, headDim, *hooks.kvCache, v.data());
    }
    RowMatrixF a = attention(q, k, v, l.slidingWindow);
    observe(1, a);
    x += linear(l.o, a);

    norm(l.mlpNorm, x, h);
    observe(2, h);
    RowMatrixF m;
    if (l.gated) {
        m = linear(l.gate, h);
        activate(activation, m.data(), m.size());
        m.array() *= linear(l.up, h).array();
    } else {
        m = linear(l.up, h);
        activate(activation, m.data(), m.size());
    }
    observe(3, m);
    x += linear(l.down, m);
}

CausalLm::CausalLm(const Model& model, std::map<std::string, std::vector<float>> replaced,
                   const JobContext& ctx)
    : m_impl(std::make_unique<Impl>()) {
    Loader loader(model, replaced, m_impl->meter);
    m_impl->build(model, loader, ctx, true);
    throwUnused(replaced, "by the forward pass");
}

CausalLm::CausalLm(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

CausalLm CausalLm::layerByLayer(const Model& model) {
    auto impl = std::make_unique<Impl>();
    std::map<std::string, std::vector<float>> none;
    Loader loader(model, none, impl->meter);
    impl->build(model, loader, {}, false);
    impl->source = &model;
    return CausalLm(std::move(impl));
}

void CausalLm::loadLayer(int layer, std::map<std::string, std::vector<float>> replaced) {
    Impl& m = *m_impl;
    if (!m.source)
        throw Error(
            "loadLayer: this model holds every layer (only a CausalLm::layerByLayer model loads layers)");
    m.layer(layer, "loadLayer");
    releaseLayer(layer); // never two copies of a layer at once
    Loader loader(*m.source, replaced, m.meter);
    Layer loaded = m.buildLayer(loader, layer);
    throwUnused(replaced, "by decoder layer " + std::to_string(layer));
    m.layers[static_cast<std::size_t>(layer)] = std::move(loaded);
}

void CausalLm::releaseLayer(int layer) {
    Impl& m = *m_impl;
    if (!m.source)
        throw Error(
            "releaseLayer: this model holds every layer (only a CausalLm::layerByLayer model releases them)");
    m.layer(layer, "releaseLayer");
    Layer& l = m.layers[static_cast<std::size_t>(layer)];
    forEachLayerSlot(l, [](const std::string&, Buffer& b) { b.reset(); });
    l.loaded = false;
}

void CausalLm::replaceLayer(int layer, std::map<std::string, std::vector<float>> replaced) {
    if (m_impl->source) {
        loadLayer(layer, std::move(replaced));
    } else {
        m_impl->layer(layer, "replaceLayer");
        *this = CausalLm(*this, std::move(replaced));
    }
}

bool CausalLm::loadsLayers() const {
    return m_impl->source != nullptr;
}

bool CausalLm::layerLoaded(int layer) const {
    return m_impl->layer(layer, "layerLoaded").loaded;
}

CausalLm::CausalLm(const CausalLm& base, std::map<std::string, std::vector<float>> replaced)
    : m_impl(std::make_unique<Impl>(*base.m_impl)) {
    m_impl->forEachSlot([&](const std::string& name, Buffer& slot) {
        const auto it = replaced.find(name);
        if (it == replaced.end()) return;
        if (it->second.size() != slot->size())
            throw Error("replaced weight '" + name + "' has " + std::to_string(it->second.size()) +
                        " values, expected " + std::to_string(slot->size()));
        const bool tiedHead = name == m_impl->embedName && m_impl->head == slot;
        slot = makeBuffer(std::move(it->second), m_impl->meter);
        if (tiedHead) m_impl->head = slot;
        replaced.erase(it);
    });
    throwUnused(replaced, "by the forward pass (or in a layer that is not loaded)");
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
}
const ForwardHooks& CausalLm::hooks() const {
    return m_impl->hooks;
}

std::size_t CausalLm::weightBytes() const {
    std::set<const void*> seen;
    std::size_t bytes = 0;
    m_impl->forEachSlot([&](const std::string&, Buffer& b) {
        if (b && seen.insert(b.get()).second) bytes += b->size() * sizeof(float);
    });
    if (m_impl->head && seen.insert(m_impl->head.get()).second) bytes += m_impl->head->size() * sizeof(float);
    return bytes;
}

std::size_t CausalLm::peakWeightBytes() const {
    return m_impl->meter->peak.load();
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
    out.noalias() = h * ConstMatrixMap(head->data(), vocab, hidden).transpose();
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

void CausalLm::runLayer(int layer, RowMatrixF& x, const LinearInputObserver* observer) const {
    const Impl& m = *m_impl;
    const Layer& l = m.layer(layer, "runLayer");
    if (!l.loaded)
        throw Error("runLayer: decoder layer " + std::to_string(layer) +
                    " is not loaded (call loadLayer first)");
    if (x.cols() != m.hidden || x.rows() == 0)
        throw Error("runLayer: input is " + std::to_string(x.rows()) + " x " + std::to_string(x.cols()) +
                    ", expected [seq > 0, " + std::to_string(m.hidden) + "]");
    const SerialScope serial(m.serialFor(x.rows()));
    const Rope::Table rotation = m.useRope ? m.rope.table(x.rows()) : Rope::Table{};
    m.layerForward(l, x, rotation, layer, observer);
}

RowMatrixF CausalLm::logits(const RowMatrixF& x) const {
    if (x.cols() != m_impl->hidden || x.rows() == 0) throw Error("logits: input has the wrong shape");
    const SerialScope serial(m_impl->serialFor(x.rows()));
    return m_impl->logits(x);
}

RowMatrixF CausalLm::forward(std::span<const std::int32_t> ids, std::vector<RowMatrixF>* hiddenStates) const {
    const Impl& m = *m_impl;
    for (std::size_t i = 0; i < m.layers.size(); ++i)
        if (!m.layers[i].loaded)
            throw Error("forward: decoder layer " + std::to_string(i) +
                        " is not loaded (a layerByLayer model runs through loadLayer and runLayer)");
    const SerialScope serial(m.serialFor(static_cast<std::int64_t>(ids.size())));
    RowMatrixF x = m.embedTokens(ids);
    if (hiddenStates) {
        hiddenStates->clear();
        hiddenStates->push_back(x);
    }
    const Rope::Table rotation = m.useRope ? m.rope.table(x.rows()) : Rope::Table{};
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        m.layerForward(m.layers[i], x, rotation, static_cast<int>(i), nullptr);
        if (hiddenStates) hiddenStates->push_back(x);
    }
    return m.logits(x);
}

} // namespace qs::core
