// SPDX-License-Identifier: MIT
#include "cost/layer_capture.h"
#include "model/weight_layout.h"

#include "base/error.h"
#include "cost/value_codes.h"
#include "formats/format_traits.h"
#include "nn/causal_lm.h"

#include <algorithm>
#include <map>

namespace qs::core {
namespace {

/// What the recipe made of one weight: its [out, in] values, the spec its codes lie on (nullopt:
/// unquantized, read at the native width) and its stored bits per weight.
struct WeightValues {
    std::vector<float> outIn;
    std::optional<QuantSpec> spec;
    double storedBits = 16;
};

WeightValues weightValues(const Model& model, const WeightInfo& info, const ModelQuantResult* q, const HeldWeights* held) {
    WeightValues w;
    w.storedBits = 8.0 * static_cast<double>(dtypeSize(info.dtype));
    if (q)
        for (const auto& l : q->layers)
            if (l.name == info.name) {
                w.storedBits = l.bitsPerWeight;
                if (!l.kept) w.spec = q->job.assignmentFor(info.name).spec;
            }
    // The recipe's values: held (a language model's), or in the result's map (a classifier's).
    const std::vector<float>* kept = nullptr;
    if (q)
        if (const auto it = q->weights.find(info.name); it != q->weights.end()) kept = &it->second;
    if (held && held->contains(info.name))
        w.outIn = outInFromStored(info, held->values(info.name));
    else
        w.outIn = kept ? outInFromStored(info, *kept) : model.weightAsOutIn(info);
    return w;
}

void fillWeightCodes(CostLayer& layer, const WeightValues& w, const CaptureOptions& o, CaptureSummary& s) {
    layer.weightStoredBits = w.storedBits;
    if (!o.weights) {
        layer.weights.bits = w.spec ? fixedPointBits(formatTraits(w.spec->format), w.spec->symmetric) : o.nativeBits;
        layer.weights.format = w.spec ? std::string(formatTraits(w.spec->format).name) : "native";
        return;
    }
    std::int64_t off = 0;
    layer.weights = w.spec ? gridCodes(w.outIn.data(), layer.F, static_cast<std::int64_t>(w.outIn.size()) / layer.F, *w.spec, &off)
                           : linearCodes(w.outIn.data(), w.outIn.size(), o.nativeBits);
    s.offGridRuns += off;
}

/// The activation operand's format and width without its codes (models that read no values).
OperandCodes activationFormat(const std::optional<QuantSpec>& spec, const CaptureOptions& o) {
    OperandCodes c;
    c.bits = spec ? fixedPointBits(formatTraits(spec->format), spec->symmetric) : o.nativeBits;
    c.format = spec ? std::string(formatTraits(spec->format).name) : "native";
    return c;
}

/// Codes of one captured input [rows, cols] read through `spec` (nullopt: at the native width).
OperandCodes inputCodes(const std::vector<float>& x, std::int64_t rows, const std::optional<QuantSpec>& spec,
                        const CaptureOptions& o, CaptureSummary& s) {
    if (!spec) return linearCodes(x.data(), x.size(), o.nativeBits);
    std::int64_t off = 0;
    OperandCodes c = gridCodes(x.data(), rows, static_cast<std::int64_t>(x.size()) / rows, *spec, &off);
    s.offGridRuns += off;
    return c;
}

} // namespace

CaptureSummary captureLanguageModel(const Model& model, const Recipe& recipe, const ModelQuantResult* quantized,
                                    const HeldWeights* weights, const CalibrationData& data, const CaptureOptions& options,
                                    const LayerSink& sink, const JobContext& job) {
    const ModelConfig& cfg = model.config();
    CaptureSummary s;
    s.context = {true, cfg.numLayers, cfg.hiddenSize, cfg.numHeads, cfg.numKvHeads, cfg.headDim, cfg.vocabSize,
                 model.parameterCount(), 0, 16};
    if (recipe.kvCache) s.context.kvBits = recipe.kvCache->bitsPerWeight(1, cfg.headDim);
    // Per token, decode reads the head (the tied embedding when there is none) and the norms; the
    // embedding itself is a look-up of one row.
    bool hasHead = false;
    for (const WeightInfo& w : model.weights()) hasHead |= w.role == WeightRole::Head;
    for (const WeightInfo& w : model.weights())
        if (!w.quantizable && (w.role == WeightRole::Head || w.role == WeightRole::Norm || w.role == WeightRole::Bias ||
                               (!hasHead && w.role == WeightRole::Embedding && cfg.tieWordEmbeddings)))
            s.context.otherWeightBytes += static_cast<double>(numel(w.shape) * static_cast<std::int64_t>(dtypeSize(w.dtype)));

    // The held weights go into the model one at a time (each held there as codes where it can be).
    CausalLm lm(model, {}, JobContext{nullptr, job.cancel});
    if (weights)
        for (const std::string& name : weights->names()) lm = CausalLm(lm, {{name, weights->values(name)}});
    const ForwardHooks user{recipe.activation, recipe.kvCache};
    lm.setHooks(quantized ? quantized->hooks(user) : user);

    std::vector<RowMatrixF> stream;
    if (options.activations) {
        if (data.windows.empty()) throw Error("cost: the calibration data holds no window");
        for (const auto& w : data.windows) stream.push_back(lm.embed(w));
    }
    s.rows = options.activations ? data.tokens() : options.rowsWithoutData;
    for (int l = 0; l < lm.numLayers(); ++l) {
        job.step(l, lm.numLayers(), "layer " + std::to_string(l));
        const std::vector<LinearInputSite> sites = lm.layerSites(l);
        std::vector<std::vector<float>> inputs(sites.size()); // [tokens, in] per site, windows in order
        if (options.activations) {
            std::map<std::string, std::size_t> siteIndex;
            for (std::size_t i = 0; i < sites.size(); ++i) siteIndex[sites[i].name] = i;
            const LinearInputObserver observe = [&](int, const LinearInputSite& site, const RowMatrixF& x) {
                auto& dst = inputs[siteIndex.at(site.name)];
                dst.insert(dst.end(), x.data(), x.data() + x.size());
            };
            for (auto& x : stream) lm.runLayer(l, x, &observe);
        }
        for (std::size_t i = 0; i < sites.size(); ++i)
            for (const std::string& name : sites[i].weights) {
                job.checkCancel();
                const WeightInfo* info = model.find(name);
                if (!info || !info->quantizable) continue;
                CostLayer layer;
                layer.name = name.ends_with(".weight") ? name.substr(0, name.size() - 7) : name;
                layer.shape = LayerShape::FullyConnected;
                layer.F = info->matrixRows();
                layer.C = info->matrixCols();
                layer.M = s.rows;
                fillWeightCodes(layer, weightValues(model, *info, quantized, weights), options, s);
                layer.activationStoredBits = recipe.activation ? recipe.activation->bitsPerWeight(1, layer.C) : options.nativeBits;
                layer.activations = options.activations ? inputCodes(inputs[i], s.rows, recipe.activation, options, s)
                                                        : activationFormat(recipe.activation, options);
                sink(std::move(layer));
            }
    }
    job.step(lm.numLayers(), lm.numLayers(), "layers captured");
    return s;
}

CaptureSummary captureClassifier(const OnnxModel& model, const ModelQuantResult* quantized,
                                 std::optional<ActivationQuant> activation, const Tensor& images,
                                 const CaptureOptions& options, const LayerSink& sink, const JobContext& job) {
    const std::string file = model.path().string();
    CaptureSummary s;
    s.context.totalParams = model.parameterCount();
    const OnnxGraph& graph = model.graph();
    std::map<std::string, std::vector<float>> replaced;
    if (quantized) replaced = quantized->weights;
    const bool staticScales = activation && activation->isStatic();
    const std::optional<QuantSpec> actSpec = activation ? std::optional<QuantSpec>(activation->spec) : std::nullopt;
    OnnxClassifier classifier(model, replaced, activation);

    // Inputs of every linear node over all images (batches in order), and their shapes.
    std::vector<std::vector<float>> inputs;
    std::vector<Shape> shapes;
    std::vector<const OnnxNode*> nodes;
    classifier.setObserver([&](std::size_t k, const OnnxNode& node, const OnnxValue& x) {
        if (inputs.size() <= k) inputs.resize(k + 1), shapes.resize(k + 1), nodes.resize(k + 1);
        if (x.isInt) throw Error(file + ": node '" + node.name + "' reads an integer input");
        inputs[k].insert(inputs[k].end(), x.f.begin(), x.f.end());
        Shape sh = x.shape;
        if (!shapes[k].empty() && !sh.empty()) sh[0] += shapes[k][0];
        shapes[k] = sh;
        nodes[k] = &node;
    });
    std::int64_t classes = 0; // the graph runs even without activations: it gives each node's input shape
    classifier.logits(images, 64, classes, JobContext{nullptr, job.cancel});
    s.rows = images.shape().empty() ? 0 : images.shape()[0];

    for (std::size_t k = 0; k < nodes.size(); ++k) {
        job.checkCancel();
        const OnnxNode& node = *nodes[k];
        const std::string& wname = node.input(1 - OnnxSession::activationInput(graph, node));
        const WeightInfo* info = model.find(wname);
        if (!info) throw Error(file + ": node '" + node.name + "' has no initializer weight: it cannot be priced");
        const Shape& xs = shapes[k];
        CostLayer layer;
        layer.name = wname.ends_with(".weight") ? wname.substr(0, wname.size() - 7) : wname; // as the LM path names it
        if (node.opType == "Conv") {
            if (xs.size() != 4 || info->shape.size() != 4)
                throw Error(file + ": node '" + node.name + "': only 2-D convolutions can be priced");
            const auto strides = node.attrInts("strides", {1, 1});
            const auto pads = node.attrInts("pads", {0, 0, 0, 0});
            const auto dil = node.attrInts("dilations", {1, 1});
            if (node.has("auto_pad") && node.attrString("auto_pad", "NOTSET") != "NOTSET")
                throw Error(file + ": node '" + node.name + "': auto_pad is not supported by the cost models");
            if (strides.size() != 2 || strides[0] != strides[1] || pads.size() != 4 ||
                std::any_of(pads.begin(), pads.end(), [&](auto p) { return p != pads[0]; }) ||
                std::any_of(dil.begin(), dil.end(), [](auto d) { return d != 1; }))
                throw Error(file + ": node '" + node.name + "': the cost models take equal strides and pads and no dilation");
            layer.shape = LayerShape::Conv;
            layer.M = xs[0];
            layer.C = xs[1];
            layer.NY = static_cast<int>(xs[2]);
            layer.NX = static_cast<int>(xs[3]);
            layer.F = info->shape[0];
            layer.KY = static_cast<int>(info->shape[2]);
            layer.KX = static_cast<int>(info->shape[3]);
            layer.stride = static_cast<int>(strides[0]);
            layer.pad = static_cast<int>(pads[0]);
            layer.groups = static_cast<int>(node.attrInt("group", 1));
            layer.OY = (layer.NY + 2 * layer.pad - layer.KY) / layer.stride + 1;
            layer.OX = (layer.NX + 2 * layer.pad - layer.KX) / layer.stride + 1;
        } else {
            layer.shape = LayerShape::FullyConnected;
            layer.F = info->matrixRows();
            layer.C = info->matrixCols();
            if (xs.empty() || numel(xs) % layer.C)
                throw Error(file + ": node '" + node.name + "': input " + shapeToString(xs) + " does not match weight " +
                            shapeToString(info->shape));
            layer.M = numel(xs) / layer.C;
        }
        fillWeightCodes(layer, weightValues(model, *info, quantized, nullptr), options, s);
        layer.activationStoredBits = actSpec ? actSpec->bitsPerWeight(1, layer.C) : options.nativeBits;
        layer.activations = activationFormat(actSpec, options);
        if (options.activations) {
            // Static scales: one scale for the whole tensor; dynamic: per image (conv) or per row (FC).
            const bool oneScale = !actSpec || staticScales || actSpec->granularity == Granularity::Tensor;
            const std::int64_t rows = oneScale ? 1 : layer.M;
            std::optional<QuantSpec> spec = actSpec;
            if (spec && rows == 1) spec->granularity = Granularity::Tensor;
            layer.activations = inputCodes(inputs[k], rows, spec, options, s);
        }
        sink(std::move(layer));
    }
    return s;
}

} // namespace qs::core
