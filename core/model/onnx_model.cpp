// SPDX-License-Identifier: MIT
#include "model/onnx_model.h"

#include "onnx/onnx_session.h"
#include "base/error.h"

#include <map>

namespace qs::core {

namespace {

bool isFloatDType(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64;
}

} // namespace

std::unique_ptr<OnnxModel> OnnxModel::open(const std::filesystem::path& path) {
    return fromGraph(OnnxGraph::load(path));
}

std::unique_ptr<OnnxModel> OnnxModel::fromGraph(OnnxGraph graph) {
    std::unique_ptr<OnnxModel> m(new OnnxModel());
    m->m_graph = std::move(graph);
    const OnnxGraph& g = m->m_graph;

    // Role of each initializer from the nodes that read it.
    struct Use {
        WeightRole role = WeightRole::Other;
        int layer = -1;
        bool linear = false, transposed = false;
    };
    std::map<std::string, Use> use;
    std::map<std::string, std::string> producer; // value -> op type that computes it
    int linearIndex = 0;
    for (const auto& n : g.nodes) {
        for (const auto& o : n.outputs) producer[o] = n.opType;
        if (OnnxSession::isLinearOp(n.opType)) {
            const int layer = linearIndex++;
            const std::size_t act = OnnxSession::activationInput(g, n);
            const std::string& w = n.input(act == 0 ? 1 : 0);
            if (const Tensor* t = g.initializer(w); t && t->shape().size() >= 2) {
                Use& u = use[w];
                u.role = WeightRole::Linear, u.layer = layer, u.linear = true;
                // Y = X W for MatMul and for Gemm without transB: W is [in, out].
                if (n.opType == "MatMul") u.transposed = act == 0 && t->shape().size() == 2;
                if (n.opType == "Gemm") u.transposed = n.attrInt("transB", 0) == 0;
                if (n.opType == "MatMul" && t->shape().size() != 2) u.linear = false; // batched weights
            }
            if (n.opType != "MatMul" && g.initializer(n.input(2))) {
                Use& u = use[n.input(2)];
                u.role = WeightRole::Bias, u.layer = layer;
            }
        } else if (n.opType == "Add") {
            // Linear layers exported as MatMul + Add: the 1-D initializer is the bias.
            for (int k = 0; k < 2; ++k) {
                const Tensor* t = g.initializer(n.input(k));
                const std::string& other = n.input(1 - k);
                if (t && t->shape().size() == 1 && producer[other] == "MatMul") {
                    use[n.input(k)].role = WeightRole::Bias;
                    use[n.input(k)].layer = linearIndex - 1;
                }
            }
        } else if (n.opType == "BatchNormalization" || n.opType == "LayerNormalization") {
            for (std::size_t k = 1; k < n.inputs.size(); ++k)
                if (g.initializer(n.inputs[k])) use[n.inputs[k]].role = WeightRole::Norm;
        }
    }
    for (const auto& [name, t] : g.initializers) {
        if (!isFloatDType(t.dtype())) continue;
        WeightInfo w;
        w.name = name;
        w.dtype = t.dtype();
        w.shape = t.shape();
        if (const auto it = use.find(name); it != use.end()) {
            w.role = it->second.role;
            w.layerIndex = it->second.layer;
            w.quantizable = it->second.linear;
            w.transposed = it->second.transposed;
        }
        m->m_weights.push_back(std::move(w));
    }

    ModelConfig& c = m->m_config;
    c.arch = Architecture::Onnx;
    c.modelType = std::string(architectureTraits(c.arch).modelType);
    c.numLayers = linearIndex;
    c.hiddenAct = "";
    c.raw = {{"opset", g.opset}, {"producer", g.producer}, {"nodes", g.nodes.size()}};
    return m;
}

Tensor OnnxModel::weight(const std::string& name) const {
    if (const Tensor* t = m_graph.initializer(name)) return *t;
    throw Error(m_graph.path.string() + ": no initializer named '" + name + "'");
}

} // namespace qs::core
