// SPDX-License-Identifier: MIT
#include "onnx/onnx_graph.h"

#include "io/file_util.h"
#include "onnx/onnx_ops.h"
#include "base/error.h"

#include "onnx/onnx_proto.h"

#include <algorithm>
#include <climits>
#include <optional>
#include <cstring>
#include <set>
#include <unordered_set>

namespace qs::core {

namespace {

const std::string kEmpty;

std::string where(const OnnxNode& n) { return "node '" + n.name + "' (" + n.opType + ")"; }

// ONNX TensorProto element type -> engine dtype (nullopt for strings, complex, ...).
std::optional<DType> dtypeOf(int t) {
    using TP = onnx::TensorProto;
    switch (t) {
    case TP::FLOAT: return DType::F32;
    case TP::UINT8: return DType::U8;
    case TP::INT8: return DType::I8;
    case TP::UINT16: return DType::U16;
    case TP::INT16: return DType::I16;
    case TP::INT32: return DType::I32;
    case TP::INT64: return DType::I64;
    case TP::BOOL: return DType::Bool;
    case TP::FLOAT16: return DType::F16;
    case TP::DOUBLE: return DType::F64;
    case TP::UINT32: return DType::U32;
    case TP::UINT64: return DType::U64;
    case TP::BFLOAT16: return DType::BF16;
    default: return std::nullopt;
    }
}

// Copies typed-field values (float_data, int32_data, ...) into the tensor's bytes, narrowing to
// the stored width the way the ONNX spec packs them (int32_data holds 16-bit floats as bit patterns).
template <class Src> void packTyped(const Src& src, Tensor& t) {
    std::byte* dst = t.mutableBytes();
    const std::size_t width = dtypeSize(t.dtype());
    for (int i = 0; i < src.size(); ++i) {
        if (t.dtype() == DType::F32) {
            const float v = static_cast<float>(src.Get(i));
            std::memcpy(dst + i * width, &v, width);
        } else if (t.dtype() == DType::F64) {
            const double v = static_cast<double>(src.Get(i));
            std::memcpy(dst + i * width, &v, width);
        } else {
            // Integers and 16-bit float bit patterns: the low `width` bytes (little-endian host).
            const std::uint64_t v = static_cast<std::uint64_t>(src.Get(i));
            std::memcpy(dst + i * width, &v, width);
        }
    }
}

Tensor tensorFromProto(const onnx::TensorProto& p, const std::string& file) {
    const std::string name = "tensor '" + p.name() + "'";
    if (p.data_location() == onnx::TensorProto::EXTERNAL || p.external_data_size() > 0) {
        std::string loc;
        for (const auto& e : p.external_data())
            if (e.key() == "location") loc = e.value();
        throw Error(file + ": " + name + " keeps its data in an external file" +
                    (loc.empty() ? "" : " ('" + loc + "')") +
                    "; only models with all weights inside the .onnx file are supported");
    }
    const auto dt = dtypeOf(p.data_type());
    if (!dt) throw Error(file + ": " + name + " has unsupported element type " + std::to_string(p.data_type()));
    Shape shape(p.dims().begin(), p.dims().end());
    std::uint64_t n = 1;
    for (auto d : shape) {
        if (d < 0) throw Error(file + ": " + name + " has a negative dimension " + shapeToString(shape));
        if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n) || n > (std::uint64_t(1) << 60))
            throw Error(file + ": " + name + " " + shapeToString(shape) + " has more elements than a tensor can hold");
    }
    // The data must match the shape before anything is allocated for it: the dims come from the file.
    if (p.has_raw_data()) {
        const std::uint64_t expected = n * dtypeSize(*dt);
        if (p.raw_data().size() != expected)
            throw Error(file + ": " + name + " " + shapeToString(shape) + " has " +
                        std::to_string(p.raw_data().size()) + " bytes of data, expected " + std::to_string(expected));
        Tensor t = Tensor::zeros(*dt, shape);
        if (expected > 0) std::memcpy(t.mutableBytes(), p.raw_data().data(), t.byteSize());
        return t;
    }
    std::size_t given = 0;
    switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: given = p.float_data_size(); break;
    case onnx::TensorProto::DOUBLE: given = p.double_data_size(); break;
    case onnx::TensorProto::INT64: given = p.int64_data_size(); break;
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64: given = p.uint64_data_size(); break;
    default: given = p.int32_data_size(); break;
    }
    if (given != n)
        throw Error(file + ": " + name + " " + shapeToString(shape) + " has " + std::to_string(given) +
                    " values, expected " + std::to_string(n));
    Tensor t = Tensor::zeros(*dt, shape);
    switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: packTyped(p.float_data(), t); break;
    case onnx::TensorProto::DOUBLE: packTyped(p.double_data(), t); break;
    case onnx::TensorProto::INT64: packTyped(p.int64_data(), t); break;
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64: packTyped(p.uint64_data(), t); break;
    default: packTyped(p.int32_data(), t); break;
    }
    return t;
}

OnnxValueInfo valueInfo(const onnx::ValueInfoProto& v) {
    OnnxValueInfo info;
    info.name = v.name();
    if (v.type().has_tensor_type()) {
        const auto& tt = v.type().tensor_type();
        info.elemType = tt.elem_type();
        for (const auto& d : tt.shape().dim())
            info.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
    return info;
}

OnnxAttr attrFromProto(const onnx::AttributeProto& a, const std::string& file) {
    OnnxAttr r;
    using AP = onnx::AttributeProto;
    switch (a.type()) {
    case AP::INT: r.kind = OnnxAttr::Kind::Int, r.i = a.i(); break;
    case AP::FLOAT: r.kind = OnnxAttr::Kind::Float, r.f = a.f(); break;
    case AP::STRING: r.kind = OnnxAttr::Kind::String, r.s = a.s(); break;
    case AP::INTS: r.kind = OnnxAttr::Kind::Ints, r.ints.assign(a.ints().begin(), a.ints().end()); break;
    case AP::FLOATS: r.kind = OnnxAttr::Kind::Floats, r.floats.assign(a.floats().begin(), a.floats().end()); break;
    case AP::TENSOR: r.kind = OnnxAttr::Kind::Tensor, r.t = tensorFromProto(a.t(), file); break;
    default: r.kind = OnnxAttr::Kind::Other; break;
    }
    return r;
}

} // namespace

std::int64_t OnnxNode::attrInt(const std::string& key, std::int64_t def) const {
    const auto it = attrs.find(key);
    if (it == attrs.end()) return def;
    if (it->second.kind != OnnxAttr::Kind::Int) throw Error(where(*this) + ": attribute '" + key + "' is not an int");
    return it->second.i;
}

float OnnxNode::attrFloat(const std::string& key, float def) const {
    const auto it = attrs.find(key);
    if (it == attrs.end()) return def;
    if (it->second.kind != OnnxAttr::Kind::Float)
        throw Error(where(*this) + ": attribute '" + key + "' is not a float");
    return it->second.f;
}

std::string OnnxNode::attrString(const std::string& key, const std::string& def) const {
    const auto it = attrs.find(key);
    if (it == attrs.end()) return def;
    if (it->second.kind != OnnxAttr::Kind::String)
        throw Error(where(*this) + ": attribute '" + key + "' is not a string");
    return it->second.s;
}

std::vector<std::int64_t> OnnxNode::attrInts(const std::string& key, std::vector<std::int64_t> def) const {
    const auto it = attrs.find(key);
    if (it == attrs.end()) return def;
    if (it->second.kind != OnnxAttr::Kind::Ints)
        throw Error(where(*this) + ": attribute '" + key + "' is not a list of ints");
    return it->second.ints;
}

const std::string& OnnxNode::input(std::size_t i) const { return i < inputs.size() ? inputs[i] : kEmpty; }

const Tensor* OnnxGraph::initializer(const std::string& name) const {
    for (const auto& [n, t] : initializers)
        if (n == name) return &t;
    return nullptr;
}

OnnxGraph OnnxGraph::load(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw Error(path.string() + ": no such file");
    return parse(readWholeFile(path), path);
}

OnnxGraph OnnxGraph::parse(std::string_view bytes, const std::filesystem::path& where_) {
    const std::string file = where_.string();
    if (bytes.empty()) throw Error(file + ": empty file, not an ONNX model");
    if (bytes.size() > static_cast<std::size_t>(INT_MAX))
        throw Error(file + ": larger than 2 GiB; ONNX models of that size keep weights as external data");
    onnx::ModelProto model;
    // A truncated or foreign file usually fails to parse; one that parses by accident (protobuf is
    // permissive) is caught by the checks on ir_version, the graph and the tensors below.
    if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        throw Error(file + ": not a valid ONNX model (the protobuf data is truncated or corrupt)");
    if (model.ir_version() <= 0 || !model.has_graph())
        throw Error(file + ": not an ONNX model (no IR version or no graph)");
    const auto& g = model.graph();
    if (g.node_size() == 0 || g.output_size() == 0)
        throw Error(file + ": the ONNX graph has no nodes or no outputs (truncated file?)");

    OnnxGraph r;
    r.path = where_;
    r.producer = model.producer_name();
    for (const auto& op : model.opset_import())
        if (op.domain().empty() || op.domain() == "ai.onnx") r.opset = op.version();

    std::unordered_set<std::string> defined;
    for (const auto& init : g.initializer()) {
        r.initializers.emplace_back(init.name(), tensorFromProto(init, file));
        defined.insert(init.name());
    }
    if (g.sparse_initializer_size() > 0) throw Error(file + ": sparse initializers are not supported");
    for (const auto& in : g.input()) {
        if (defined.count(in.name())) continue; // IR < 4 lists initializers as inputs too
        r.inputs.push_back(valueInfo(in));
    }
    for (const auto& in : r.inputs) defined.insert(in.name);
    for (const auto& out : g.output()) r.outputs.push_back(valueInfo(out));

    std::set<std::string> unsupported;
    for (int i = 0; i < g.node_size(); ++i) {
        const auto& p = g.node(i);
        OnnxNode n;
        n.opType = p.op_type();
        n.name = p.name().empty() ? p.op_type() + "#" + std::to_string(i) : p.name();
        const bool standard = p.domain().empty() || p.domain() == "ai.onnx";
        if (!standard || !onnx_ops::kernelFor(n.opType))
            unsupported.insert(standard ? n.opType : p.domain() + "." + n.opType);
        n.inputs.assign(p.input().begin(), p.input().end());
        n.outputs.assign(p.output().begin(), p.output().end());
        for (const auto& a : p.attribute()) n.attrs[a.name()] = attrFromProto(a, file);
        r.nodes.push_back(std::move(n));
    }
    if (!unsupported.empty()) {
        std::string list;
        for (const auto& u : unsupported) list += (list.empty() ? "" : ", ") + u;
        throw Error(file + ": unsupported ONNX operator" + (unsupported.size() > 1 ? "s: " : ": ") + list +
                    " (supported: Conv, Gemm, MatMul, elementwise, pooling, normalization and shape operators)");
    }
    // Stored order must be topological: every input is defined before the node that reads it.
    for (const auto& n : r.nodes) {
        for (const auto& in : n.inputs)
            if (!in.empty() && !defined.count(in))
                throw Error(file + ": " + where(n) + " reads '" + in +
                            "', which no earlier node, graph input or initializer defines");
        for (const auto& out : n.outputs)
            if (!out.empty()) defined.insert(out);
    }
    for (const auto& out : r.outputs)
        if (!defined.count(out.name)) throw Error(file + ": graph output '" + out.name + "' is never computed");
    if (r.inputs.empty()) throw Error(file + ": the ONNX graph has no inputs besides its initializers");
    return r;
}

} // namespace qs::core
