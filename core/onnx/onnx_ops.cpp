// SPDX-License-Identifier: MIT
// The operator table: one row per supported ONNX op type.
#include "onnx/onnx_ops.h"

#include "base/error.h"

#include <map>

namespace qs::core::onnx_ops {

const OnnxValue& OpArgs::need(std::size_t k) const {
    if (k >= in.size() || !in[k]) throw Error("missing required input " + std::to_string(k));
    return *in[k];
}

const OnnxValue& OpArgs::floatIn(std::size_t k) const {
    const OnnxValue& v = need(k);
    if (v.isInt) throw Error("input " + std::to_string(k) + " must be float, got an integer tensor");
    return v;
}

namespace {

const std::map<std::string, Kernel>& table() {
    static const std::map<std::string, Kernel> t{
        {"Add", add},
        {"AveragePool", averagePool},
        {"BatchNormalization", batchNorm},
        {"Concat", concat},
        {"Constant", constant},
        {"Conv", conv},
        {"Div", div},
        {"Dropout", identity}, // inference: the identity
        {"Erf", erfOp},
        {"Flatten", flatten},
        {"Gather", gather},
        {"Gelu", gelu},
        {"Gemm", gemm},
        {"GlobalAveragePool", globalAveragePool},
        {"Identity", identity},
        {"LayerNormalization", layerNorm},
        {"MatMul", matMul},
        {"MaxPool", maxPool},
        {"Mul", mul},
        {"Relu", relu},
        {"Reshape", reshape},
        {"Shape", shape},
        {"Sigmoid", sigmoid},
        {"Softmax", softmax},
        {"Sqrt", sqrtOp},
        {"Squeeze", squeeze},
        {"Sub", sub},
        {"Tanh", tanhOp},
        {"Transpose", transpose},
        {"Unsqueeze", unsqueeze},
    };
    return t;
}

} // namespace

Kernel kernelFor(const std::string& opType) {
    const auto it = table().find(opType);
    return it == table().end() ? nullptr : it->second;
}

} // namespace qs::core::onnx_ops

namespace qs::core {

const std::vector<std::string>& supportedOnnxOps() {
    static const std::vector<std::string> ops = [] {
        std::vector<std::string> v;
        for (const auto& [name, k] : onnx_ops::table()) v.push_back(name);
        return v;
    }();
    return ops;
}

} // namespace qs::core
