// SPDX-License-Identifier: MIT
#pragma once
#include "onnx/onnx_graph.h"
#include "onnx/onnx_value.h"

#include <string>
#include <vector>

namespace qs::core::onnx_ops {

/// What a kernel sees: its node, its inputs (nullptr for absent optional ones) and the model opset.
struct OpArgs {
    const OnnxNode& node;
    const std::vector<const OnnxValue*>& in;
    std::int64_t opset;

    /// Input k, which must be present (throws Error otherwise).
    const OnnxValue& need(std::size_t k) const;
    /// Input k as float data (throws for a missing or int64 input).
    const OnnxValue& floatIn(std::size_t k) const;
    /// Input k or nullptr.
    const OnnxValue* opt(std::size_t k) const { return k < in.size() ? in[k] : nullptr; }
};

/// A kernel returns the node's outputs in order. Errors throw Error with the problem (shapes);
/// the executor adds the file and node name.
using Kernel = std::vector<OnnxValue> (*)(const OpArgs& a);

/// The kernel of a supported operator type (nullptr when unsupported).
Kernel kernelFor(const std::string& opType);

// Linear algebra (onnx_ops_linear.cpp).
std::vector<OnnxValue> conv(const OpArgs& a);
std::vector<OnnxValue> gemm(const OpArgs& a);
std::vector<OnnxValue> matMul(const OpArgs& a);
// Pooling (onnx_ops_pool.cpp).
std::vector<OnnxValue> maxPool(const OpArgs& a);
std::vector<OnnxValue> averagePool(const OpArgs& a);
std::vector<OnnxValue> globalAveragePool(const OpArgs& a);
// Elementwise, softmax and normalization (onnx_ops_math.cpp).
std::vector<OnnxValue> add(const OpArgs& a);
std::vector<OnnxValue> sub(const OpArgs& a);
std::vector<OnnxValue> mul(const OpArgs& a);
std::vector<OnnxValue> div(const OpArgs& a);
std::vector<OnnxValue> relu(const OpArgs& a);
std::vector<OnnxValue> sigmoid(const OpArgs& a);
std::vector<OnnxValue> tanhOp(const OpArgs& a);
std::vector<OnnxValue> erfOp(const OpArgs& a);
std::vector<OnnxValue> sqrtOp(const OpArgs& a);
std::vector<OnnxValue> gelu(const OpArgs& a);
std::vector<OnnxValue> softmax(const OpArgs& a);
std::vector<OnnxValue> batchNorm(const OpArgs& a);
std::vector<OnnxValue> layerNorm(const OpArgs& a);
// Shapes and plumbing (onnx_ops_shape.cpp).
std::vector<OnnxValue> identity(const OpArgs& a);
std::vector<OnnxValue> constant(const OpArgs& a);
std::vector<OnnxValue> flatten(const OpArgs& a);
std::vector<OnnxValue> reshape(const OpArgs& a);
std::vector<OnnxValue> transpose(const OpArgs& a);
std::vector<OnnxValue> concat(const OpArgs& a);
std::vector<OnnxValue> shape(const OpArgs& a);
std::vector<OnnxValue> gather(const OpArgs& a);
std::vector<OnnxValue> unsqueeze(const OpArgs& a);
std::vector<OnnxValue> squeeze(const OpArgs& a);

/// Normalises a possibly negative axis against `rank` (throws Error when out of range).
std::int64_t normAxis(std::int64_t axis, std::size_t rank, const char* what);
/// Numpy broadcast of two shapes (throws Error when incompatible).
Shape broadcastShapes(const Shape& a, const Shape& b);

} // namespace qs::core::onnx_ops
