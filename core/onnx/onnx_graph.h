// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/tensor.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// One attribute of an ONNX node (the kinds the supported operators use).
struct OnnxAttr {
    enum class Kind { Int, Float, String, Ints, Floats, Tensor, Other };
    Kind kind = Kind::Other;
    std::int64_t i = 0;
    float f = 0.0f;
    std::string s;
    std::vector<std::int64_t> ints;
    std::vector<float> floats;
    Tensor t; ///< Constant's value
};

/// One node, in the order stored in the file (ONNX requires topological order).
struct OnnxNode {
    std::string opType;
    std::string name; ///< node name, or "<op>#<index>" when the file has none
    std::vector<std::string> inputs;  ///< "" marks an absent optional input
    std::vector<std::string> outputs;
    std::map<std::string, OnnxAttr> attrs;

    /// Attribute values with defaults; a present attribute of the wrong kind throws Error.
    std::int64_t attrInt(const std::string& key, std::int64_t def) const;
    float attrFloat(const std::string& key, float def) const;
    std::string attrString(const std::string& key, const std::string& def) const;
    std::vector<std::int64_t> attrInts(const std::string& key, std::vector<std::int64_t> def = {}) const;
    bool has(const std::string& key) const { return attrs.count(key) != 0; }
    /// The i-th input name, "" when absent.
    const std::string& input(std::size_t i) const;
};

/// A graph input or output: name, element type (ONNX TensorProto code) and dims (-1 = symbolic).
struct OnnxValueInfo {
    std::string name;
    int elemType = 0;
    std::vector<std::int64_t> dims;
};

/// A parsed and validated ONNX model: initializers as owning tensors in their stored dtype, nodes,
/// graph inputs (initializers excluded) and outputs. Loading checks everything that can be checked
/// without running: every operator is supported, every node input is defined before use, every
/// initializer's data matches its shape; errors name the file.
struct OnnxGraph {
    std::filesystem::path path;
    std::int64_t opset = 0;
    std::string producer;
    std::vector<OnnxNode> nodes;
    std::vector<std::pair<std::string, Tensor>> initializers; ///< file order
    std::vector<OnnxValueInfo> inputs;
    std::vector<OnnxValueInfo> outputs;

    /// Reads and validates an .onnx file. Throws Error naming the file: not ONNX / truncated,
    /// external-data tensors, unsupported operators (all listed at once), undefined inputs.
    static OnnxGraph load(const std::filesystem::path& path);
    /// Same from bytes already in memory; `where` names the source in errors.
    static OnnxGraph parse(std::string_view bytes, const std::filesystem::path& where);

    /// Initializer by name, nullptr when absent.
    const Tensor* initializer(const std::string& name) const;
};

/// Operator types the executor runs (sorted).
const std::vector<std::string>& supportedOnnxOps();

} // namespace qs::core
