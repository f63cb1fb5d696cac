// SPDX-License-Identifier: MIT
// Weight residency of CausalLm: which float32 weights an instance holds. The constructors convert a
// Model's weights (taking replaced ones instead), layerByLayer() holds only the resident weights and
// loadLayer / releaseLayer bring decoder layers in and out; a meter counts every buffer alive.
#include "nn/causal_lm.h"

#include "nn/causal_lm_internal.h"
#include "base/error.h"
#include "base/process.h"
#include "io/mapped_file.h"
#include "quant/held_weights.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

namespace qs::core {
using namespace causal_lm_detail;
namespace {

Activation parseActivation(const std::string& name) {
    if (name == "silu" || name == "swish") return Activation::Silu;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
    if (name == "gelu") return Activation::GeluErf;
    if (name == "relu") return Activation::Relu;
    throw Error("activation function '" + name +
                "' is not supported (silu, gelu_new, gelu_pytorch_tanh, gelu, relu)");
}

int optionalInt(const nlohmann::json& raw, const char* key) {
    const auto it = raw.is_object() ? raw.find(key) : raw.end();
    if (it == raw.end() || !it->is_number_integer()) return 0;
    return std::max(0, it->get<int>());
}

bool optionalBool(const nlohmann::json& raw, const char* key) {
    const auto it = raw.is_object() ? raw.find(key) : raw.end();
    return it != raw.end() && it->is_boolean() && it->get<bool>();
}

Buffer makeBuffer(std::vector<float> data, const std::shared_ptr<WeightMeter>& meter) {
    const std::size_t bytes = data.size() * sizeof(float);
    return meteredBuffer(std::move(data), bytes, meter);
}

CompactBuffer makeCompactBuffer(CompactMatrix matrix, const std::shared_ptr<WeightMeter>& meter) {
    const std::size_t bytes = matrix.bytes();
    return meteredBuffer(std::move(matrix), bytes, meter);
}

// Installs `values` (the stored layout) as Linear l's weight: compactly where they are exactly int8
// codes, a code-book format's values or FP8/FP6 codes times scales along `in` (a quantized weight)
// or BF16 values, else as float32.
void setLinearValues(Linear& l, std::vector<float> values, const std::shared_ptr<WeightMeter>& meter) {
    if (auto compact = compactWeight(values, l.storedRows(), l.storedCols(), l.inOut)) {
        l.compact = makeCompactBuffer(std::move(*compact), meter);
        l.weight.reset();
    } else {
        l.weight = makeBuffer(std::move(values), meter);
        l.compact.reset();
    }
}

// Takes replaced[name] out of `replaced` after checking its size; nullopt when it is not there.
std::optional<std::vector<float>> takeReplaced(std::map<std::string, std::vector<float>>& replaced,
                                               const std::string& name, std::size_t expected) {
    const auto it = replaced.find(name);
    if (it == replaced.end()) return std::nullopt;
    if (it->second.size() != expected)
        throw Error("replaced weight '" + name + "' has " + std::to_string(it->second.size()) + " values, expected " +
                    std::to_string(expected));
    std::vector<float> values = std::move(it->second);
    replaced.erase(it);
    return values;
}

} // namespace

// Declared in causal_lm_internal.h, where Impl names it.
namespace causal_lm_detail {

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
        if (auto values = takeReplaced(m_replaced, name, static_cast<std::size_t>(expectedNumel)))
            data = std::move(*values);
        else
            data = readStored(name);
        Buffer buffer = makeBuffer(std::move(data), m_meter);
        m_cache.emplace(name, buffer);
        return buffer;
    }

    // A stored weight's values as float32.
    std::vector<float> readStored(const std::string& name) {
        const Tensor t = m_model.weight(name);
        if (!isFloatConvertible(t.dtype()))
            throw Error(m_model.path().string() + ": weight '" + name + "' of type " + std::string(dtypeName(t.dtype())) +
                        " cannot be read as float32");
        std::vector<float> data = t.toFloats();
        // The stored bytes were read once: drop their file pages, so that the resident set is the
        // float32 weights, not those plus the whole mapped checkpoint.
        MappedFile::adviseNotNeeded(t.bytes(), t.byteSize());
        return data;
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
        const auto values = static_cast<std::int64_t>(out) * in;
        if (auto quantized = m_read ? takeReplaced(m_replaced, l.name, static_cast<std::size_t>(values)) : std::nullopt)
            setLinearValues(l, std::move(*quantized), m_meter);
        else if (!getHalf(l) && !getStoredCodes(l) && !getOnGrid(l, values))
            l.weight = get(l.name, values);
        if (has(base + ".bias")) l.bias = get(base + ".bias", out);
        return l;
    }

    // A Linear weight stored in BF16 or binary16 and not replaced is kept in its 16 bits (l.compact):
    // the products convert it exactly as they pack it, so the numbers are those of a float32 copy.
    bool getHalf(Linear& l) {
        const DType stored = info(l.name).dtype; // decided before reading: a GGUF q/k weight is copied to be read
        if (!m_read || m_replaced.count(l.name) || !isHalf(stored)) return false;
        const Tensor t = m_model.weight(l.name);
        if (t.dtype() != stored) return false; // a table that disagrees with its tensor: the float32 path
        std::vector<std::uint16_t> data(static_cast<std::size_t>(t.numel()));
        std::memcpy(data.data(), t.bytes(), t.byteSize());
        MappedFile::adviseNotNeeded(t.bytes(), t.byteSize());
        l.compact = makeCompactBuffer(
            CompactMatrix::fromHalf(std::move(data), l.storedRows(), l.storedCols(), t.dtype() == DType::BF16), m_meter);
        return true;
    }

    // A Linear weight whose stored codes the products read as they are (GGUF Q2_K, Q4_K, Q5_K:
    // Model::storedCodes) is held so, with no float32 copy.
    bool getStoredCodes(Linear& l) {
        if (!m_read || m_replaced.count(l.name)) return false;
        std::optional<CompactMatrix> codes = m_model.storedCodes(l.name);
        if (!codes || codes->rows() != l.storedRows() || codes->cols() != l.storedCols()) return false;
        l.compact = makeCompactBuffer(std::move(*codes), m_meter);
        return true;
    }

    // A Linear weight read as float32 (F32, or a GGUF block type dequantized: Q8_0 or Q4_0, whose
    // values are int codes times a block scale) is held as codes where its values lie on a grid, as a
    // replaced one is (setLinearValues: checked exactly, float32 otherwise). Decoder Linears are read
    // once and shared with nothing, so they bypass the cache.
    bool getOnGrid(Linear& l, std::int64_t values) {
        if (!m_read || m_cache.count(l.name) || isHalf(info(l.name).dtype)) return false;
        std::vector<float> data = readStored(l.name);
        if (static_cast<std::int64_t>(data.size()) != values) return false; // get() names the mismatch
        setLinearValues(l, std::move(data), m_meter);
        return true;
    }

    static bool isHalf(DType t) { return t == DType::BF16 || t == DType::F16; }

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

} // namespace causal_lm_detail

namespace {

// `what` says where the names were looked for, e.g. "by the forward pass".
void throwUnused(const std::map<std::string, std::vector<float>>& replaced, const std::string& what) {
    if (replaced.empty()) return;
    std::string names;
    for (const auto& [name, v] : replaced)
        names += (names.empty() ? "" : ", ") + name;
    throw Error("replaced weights not used " + what + ": " + names);
}

// Calls f(name, buffer) for every non-null float32 weight buffer of a decoder layer (a Linear held
// in 16 bits has none: see forEachLinear).
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

void CausalLm::Impl::build(const Model& model, Loader& loader, const JobContext& ctx, bool readLayers) {
    retainFreedMemory(); // the forward pass's matrices come and go: keep their pages
    config = model.config();
    const ArchitectureTraits& arch = architectureTraits(config.arch);
    if (!arch.decoderOnly)
        throw Error(model.path().string() + ": " + std::string(arch.displayName) +
                    " models have no causal language model forward pass");
    const WeightNames& names = arch.names;
    hidden = config.hiddenSize;
    vocab = config.vocabSize;
    numHeads = config.numHeads;
    numKvHeads = config.numKvHeads;
    headDim = config.headDim;
    eps = static_cast<float>(config.rmsNormEps);
    activation = parseActivation(config.hiddenAct);
    const long long total = config.numLayers + 1;

    useRope = arch.positions == PositionKind::Rope;
    normKind = arch.norm;
    if (useRope) rope = Rope(config);
    const std::string prefix(names.optionalPrefix);
    namePrefix = !prefix.empty() && loader.has(prefix + std::string(names.embed)) ? prefix : "";
    embedName = namePrefix + std::string(names.embed);
    embed = loader.get(embedName, static_cast<std::int64_t>(vocab) * hidden);
    if (arch.positions == PositionKind::Learned) {
        positionsName = namePrefix + std::string(names.positions);
        const WeightInfo& table = loader.info(positionsName);
        if (table.shape.size() != 2 || table.shape[1] != hidden)
            throw Error(model.path().string() + ": " + std::string(names.positions) + " has shape " +
                        shapeToString(table.shape));
        maxPositions = static_cast<int>(table.shape[0]);
        positions = loader.get(positionsName, numel(table.shape));
    }
    const SlidingWindowKeys& window = arch.slidingWindow;
    if (window.size && (!window.enabled || optionalBool(config.raw, window.enabled))) {
        slidingWindow = optionalInt(config.raw, window.size);
        firstWindowLayer = window.firstLayer ? optionalInt(config.raw, window.firstLayer) : 0;
    }
    loader.setReading(readLayers);
    for (int i = 0; i < config.numLayers; ++i) {
        ctx.step(i, total, "loading layer " + std::to_string(i));
        layers.push_back(buildLayer(loader, i));
    }
    loader.setReading(true);
    finalNorm =
        loader.norm(namePrefix + std::string(names.finalNorm), hidden, normKind == NormKind::LayerNorm);
    const std::string headWeight(names.head);
    if (config.tieWordEmbeddings || !loader.has(headWeight)) {
        if (!config.tieWordEmbeddings)
            throw Error(model.path().string() + ": " + headWeight +
                        " is missing and tie_word_embeddings is false");
        head = embed;
        headName = embedName;
    } else {
        headName = headWeight;
        head = loader.get(headName, static_cast<std::int64_t>(vocab) * hidden);
    }
    ctx.step(total, total, "weights loaded");
}

Layer CausalLm::Impl::buildLayer(Loader& loader, int i) const {
    const int qDim = numHeads * headDim, kvDim = numKvHeads * headDim, inter = config.intermediateSize;
    const WeightNames& names = architectureTraits(config.arch).names;
    const std::string b = namePrefix + std::string(names.layerPrefix) + std::to_string(i) + ".";
    const auto name = [&](std::string_view n) { return b + std::string(n); };
    const bool normBias = normKind == NormKind::LayerNorm;
    Layer l;
    l.loaded = loader.reading();
    l.attnNorm = loader.norm(name(names.attnNorm), hidden, normBias);
    l.mlpNorm = loader.norm(name(names.mlpNorm), hidden, normBias);
    l.fusedQkv = !names.qkv.empty();
    if (l.fusedQkv) {
        l.qkv = loader.linear(name(names.qkv), qDim + 2 * kvDim, hidden);
    } else {
        l.q = loader.linear(name(names.q), qDim, hidden);
        l.k = loader.linear(name(names.k), kvDim, hidden);
        l.v = loader.linear(name(names.v), kvDim, hidden);
    }
    l.o = loader.linear(name(names.o), hidden, qDim);
    l.gated = !names.gate.empty();
    if (l.gated) l.gate = loader.linear(name(names.gate), inter, hidden);
    l.up = loader.linear(name(names.up), inter, hidden);
    l.down = loader.linear(name(names.down), hidden, inter);
    l.slidingWindow = slidingWindow > 0 && i >= firstWindowLayer ? slidingWindow : 0;
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
    forEachLinear(l, [](Linear& x) { x.compact.reset(); });
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
    for (Layer& l : m_impl->layers)
        forEachLinear(l, [&](Linear& x) {
            if (!x.weight && !x.compact) return; // unused, or its layer is not loaded
            if (auto values = takeReplaced(replaced, x.name, static_cast<std::size_t>(x.out) * x.in))
                setLinearValues(x, std::move(*values), m_impl->meter);
        });
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

std::size_t CausalLm::weightBytes() const {
    std::set<const void*> seen;
    std::size_t bytes = 0;
    m_impl->forEachSlot([&](const std::string&, Buffer& b) {
        if (b && seen.insert(b.get()).second) bytes += b->size() * sizeof(float);
    });
    if (m_impl->head && seen.insert(m_impl->head.get()).second) bytes += m_impl->head->size() * sizeof(float);
    for (Layer& l : m_impl->layers)
        forEachLinear(l, [&](Linear& x) {
            if (x.compact && seen.insert(x.compact.get()).second) bytes += x.compact->bytes();
        });
    return bytes;
}

std::size_t CausalLm::peakWeightBytes() const {
    return m_impl->meter->peak.load();
}

} // namespace qs::core
