// SPDX-License-Identifier: MIT
#include "onnx/onnx_session.h"

#include "onnx/onnx_ops.h"
#include "base/error.h"

#include <unordered_map>

namespace qs::core {

bool OnnxSession::isLinearOp(const std::string& opType) {
    return opType == "Conv" || opType == "Gemm" || opType == "MatMul";
}

std::size_t OnnxSession::activationInput(const OnnxGraph& graph, const OnnxNode& node) {
    return graph.initializer(node.input(0)) && !graph.initializer(node.input(1)) ? 1 : 0;
}

OnnxSession::OnnxSession(const OnnxGraph& graph, const std::map<std::string, std::vector<float>>& replaced)
    : m_graph(graph) {
    const std::string file = graph.path.string();
    for (const auto& [name, t] : graph.initializers) {
        const auto it = replaced.find(name);
        if (it == replaced.end()) {
            m_constants[name] = std::make_shared<const OnnxValue>(OnnxValue::fromTensor(t));
            continue;
        }
        if (static_cast<std::int64_t>(it->second.size()) != t.numel())
            throw Error(file + ": replacement for '" + name + "' has " + std::to_string(it->second.size()) +
                        " values, the initializer " + shapeToString(t.shape()) + " has " + std::to_string(t.numel()));
        m_constants[name] = std::make_shared<const OnnxValue>(OnnxValue::floats(t.shape(), it->second));
    }
    for (const auto& [name, v] : replaced)
        if (!graph.initializer(name)) throw Error(file + ": no initializer named '" + name + "' to replace");
    m_linearIndexOfNode.assign(graph.nodes.size(), -1);
    for (std::size_t k = 0; k < graph.nodes.size(); ++k) {
        const auto& n = graph.nodes[k];
        if (isLinearOp(n.opType)) {
            m_linearIndexOfNode[k] = static_cast<int>(m_linear.size());
            m_linear.push_back(k);
        }
        for (const auto& in : n.inputs)
            if (!in.empty()) m_lastUse[in] = k;
    }
    // Graph outputs are never freed.
    for (const auto& out : graph.outputs) m_lastUse[out.name] = graph.nodes.size();
}

std::vector<OnnxValue> OnnxSession::run(const std::vector<OnnxValue>& inputs) const {
    const std::string file = m_graph.path.string();
    if (inputs.size() != m_graph.inputs.size())
        throw Error(file + ": the model takes " + std::to_string(m_graph.inputs.size()) + " input(s), given " +
                    std::to_string(inputs.size()));
    std::unordered_map<std::string, std::shared_ptr<const OnnxValue>> env;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const auto& info = m_graph.inputs[k];
        bool ok = info.dims.empty() || info.dims.size() == inputs[k].shape.size();
        for (std::size_t d = 0; ok && d < info.dims.size(); ++d)
            ok = info.dims[d] < 0 || info.dims[d] == inputs[k].shape[d];
        if (!ok) {
            Shape expected = info.dims;
            throw Error(file + ": input '" + info.name + "' expects shape " + shapeToString(expected) +
                        " (-1 = any), given " + shapeToString(inputs[k].shape));
        }
        env[info.name] = std::make_shared<const OnnxValue>(inputs[k]);
    }
    auto lookup = [&](const std::string& name) -> std::shared_ptr<const OnnxValue> {
        if (const auto it = env.find(name); it != env.end()) return it->second;
        if (const auto it = m_constants.find(name); it != m_constants.end()) return it->second;
        return nullptr;
    };

    for (std::size_t k = 0; k < m_graph.nodes.size(); ++k) {
        const OnnxNode& node = m_graph.nodes[k];
        std::vector<std::shared_ptr<const OnnxValue>> held(node.inputs.size());
        std::vector<const OnnxValue*> in(node.inputs.size(), nullptr);
        for (std::size_t j = 0; j < node.inputs.size(); ++j)
            if (!node.inputs[j].empty()) held[j] = lookup(node.inputs[j]), in[j] = held[j].get();
        std::vector<OnnxValue> out;
        try {
            if (m_hook && m_linearIndexOfNode[k] >= 0) {
                const std::size_t j = activationInput(m_graph, node);
                if (in.size() > j && in[j]) {
                    if (auto repl = m_hook(static_cast<std::size_t>(m_linearIndexOfNode[k]), node, *in[j])) {
                        held[j] = std::make_shared<const OnnxValue>(std::move(*repl));
                        in[j] = held[j].get();
                    }
                }
            }
            const onnx_ops::OpArgs args{node, in, m_graph.opset};
            out = onnx_ops::kernelFor(node.opType)(args);
        } catch (const Error& e) {
            throw Error(file + ": node '" + node.name + "' (" + node.opType + "): " + e.what());
        }
        for (std::size_t j = 0; j < node.outputs.size() && j < out.size(); ++j)
            if (!node.outputs[j].empty())
                env[node.outputs[j]] = std::make_shared<const OnnxValue>(std::move(out[j]));
        // Free intermediates whose last reader has run.
        for (const auto& name : node.inputs) {
            const auto it = m_lastUse.find(name);
            if (it != m_lastUse.end() && it->second == k) env.erase(name);
        }
    }
    std::vector<OnnxValue> result;
    for (const auto& o : m_graph.outputs) {
        const auto v = lookup(o.name);
        if (!v) throw Error(file + ": graph output '" + o.name + "' was not computed");
        result.push_back(*v);
    }
    return result;
}

} // namespace qs::core
