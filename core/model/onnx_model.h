// SPDX-License-Identifier: MIT
#pragma once
#include "model/model.h"
#include "onnx/onnx_graph.h"

#include <filesystem>
#include <memory>

namespace qs::core {

/// An .onnx file seen as a Model. weights() are the floating-point initializers in file order
/// (integer ones are shape constants, not parameters). The weight input of every Conv/Gemm/MatMul
/// is a quantizable Linear seen as [out, in*kh*kw]; Gemm with transB=0 and MatMul store [in, out]
/// (transposed = true). Conv/Gemm biases and the 1-D addend of a MatMul+Add are Bias; Batch/Layer
/// normalization parameters are Norm. layerIndex is the linear node's position among linear nodes.
class OnnxModel final : public Model {
public:
    /// Loads and validates `path` (see OnnxGraph::load); throws Error naming the file.
    static std::unique_ptr<OnnxModel> open(const std::filesystem::path& path);
    /// Wraps an already parsed graph.
    static std::unique_ptr<OnnxModel> fromGraph(OnnxGraph graph);

    const std::filesystem::path& path() const override { return m_graph.path; }
    const ModelConfig& config() const override { return m_config; }
    const std::vector<WeightInfo>& weights() const override { return m_weights; }
    Tensor weight(const std::string& name) const override;

    /// The parsed graph, for OnnxSession.
    const OnnxGraph& graph() const { return m_graph; }

private:
    OnnxModel() = default;

    OnnxGraph m_graph;
    ModelConfig m_config;
    std::vector<WeightInfo> m_weights;
};

} // namespace qs::core
