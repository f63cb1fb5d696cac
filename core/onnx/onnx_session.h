// SPDX-License-Identifier: MIT
#pragma once
#include "onnx/onnx_graph.h"
#include "onnx/onnx_value.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

/// Runs an OnnxGraph in float32 on the CPU, nodes in stored (topological) order. Initializers can be
/// replaced by name (fake-quantized weights), and a hook sees the activation input of every
/// Conv/Gemm/MatMul ("linear" nodes) before the node runs, to observe or replace it.
/// The graph must outlive the session. run() is const and may be called from several threads.
class OnnxSession {
public:
    /// `replaced`: initializer name -> values in the stored layout (same element count).
    /// Throws Error naming the file for an unknown name or a size mismatch.
    explicit OnnxSession(const OnnxGraph& graph, const std::map<std::string, std::vector<float>>& replaced = {});

    /// Called with the linear node's index among linear nodes (0, 1, ...), the node and its
    /// activation input; a returned value replaces that input for this node.
    using LinearInputHook =
        std::function<std::optional<OnnxValue>(std::size_t linearIndex, const OnnxNode& node, const OnnxValue& x)>;
    void setLinearInputHook(LinearInputHook hook) { m_hook = std::move(hook); }

    /// Runs the graph on values for its inputs (in graph-input order) and returns its outputs.
    /// Throws Error naming the file and the failing node (shape mismatches, ...).
    std::vector<OnnxValue> run(const std::vector<OnnxValue>& inputs) const;

    const OnnxGraph& graph() const { return m_graph; }
    /// Conv/Gemm/MatMul nodes in order (indices into graph().nodes).
    const std::vector<std::size_t>& linearNodes() const { return m_linear; }
    /// Which input of a linear node carries the activation (0, or 1 when input 0 is an initializer).
    static std::size_t activationInput(const OnnxGraph& graph, const OnnxNode& node);
    /// True for Conv, Gemm and MatMul.
    static bool isLinearOp(const std::string& opType);

private:
    const OnnxGraph& m_graph;
    std::map<std::string, std::shared_ptr<const OnnxValue>> m_constants; ///< initializers (replaced ones swapped in)
    std::vector<std::size_t> m_linear;
    std::vector<int> m_linearIndexOfNode; ///< -1 for other nodes
    std::map<std::string, std::size_t> m_lastUse; ///< node index after which a value can be freed
    LinearInputHook m_hook;
};

} // namespace qs::core
