// SPDX-License-Identifier: MIT
#pragma once
// Builds small ONNX graphs with the protobuf API for tests.
#include "onnx/onnx_graph.h"
#include "onnx/onnx_proto.h"
#include "onnx/onnx_session.h"

#include <string>
#include <vector>

namespace qs::test {

class TestGraph {
public:
    explicit TestGraph(int opset = 13) {
        m_model.set_ir_version(8);
        m_model.set_producer_name("qs-test");
        m_model.add_opset_import()->set_version(opset);
        m_model.mutable_graph()->set_name("test");
    }
    onnx::GraphProto& graph() { return *m_model.mutable_graph(); }
    onnx::ModelProto& model() { return m_model; }

    /// A float input with fixed dims (-1 = symbolic "batch").
    void input(const std::string& name, const std::vector<std::int64_t>& dims) {
        auto* v = graph().add_input();
        v->set_name(name);
        auto* t = v->mutable_type()->mutable_tensor_type();
        t->set_elem_type(onnx::TensorProto::FLOAT);
        for (auto d : dims) {
            auto* dim = t->mutable_shape()->add_dim();
            if (d < 0) dim->set_dim_param("batch");
            else dim->set_dim_value(d);
        }
    }
    void output(const std::string& name) { graph().add_output()->set_name(name); }
    /// A float32 initializer stored in float_data (typed field).
    void init(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
        auto* t = graph().add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (auto d : dims) t->add_dims(d);
        for (float x : v) t->add_float_data(x);
    }
    /// A float32 initializer stored as raw_data.
    void initRaw(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
        auto* t = graph().add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (auto d : dims) t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    }
    void initInt64(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& v) {
        auto* t = graph().add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        for (auto d : dims) t->add_dims(d);
        for (auto x : v) t->add_int64_data(x);
    }
    onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out) {
        auto* n = graph().add_node();
        n->set_op_type(op);
        n->set_name(op + "_" + std::to_string(graph().node_size()));
        for (const auto& s : in) n->add_input(s);
        for (const auto& s : out) n->add_output(s);
        return n;
    }
    static void attr(onnx::NodeProto* n, const std::string& key, std::int64_t v) {
        auto* a = n->add_attribute();
        a->set_name(key), a->set_type(onnx::AttributeProto::INT), a->set_i(v);
    }
    static void attrF(onnx::NodeProto* n, const std::string& key, float v) {
        auto* a = n->add_attribute();
        a->set_name(key), a->set_type(onnx::AttributeProto::FLOAT), a->set_f(v);
    }
    static void attr(onnx::NodeProto* n, const std::string& key, const std::vector<std::int64_t>& v) {
        auto* a = n->add_attribute();
        a->set_name(key), a->set_type(onnx::AttributeProto::INTS);
        for (auto x : v) a->add_ints(x);
    }
    static void attr(onnx::NodeProto* n, const std::string& key, const std::string& v) {
        auto* a = n->add_attribute();
        a->set_name(key), a->set_type(onnx::AttributeProto::STRING), a->set_s(v);
    }

    std::string bytes() const { return m_model.SerializeAsString(); }
    /// Parsed and validated, as if loaded from "test.onnx".
    core::OnnxGraph parse() const { return core::OnnxGraph::parse(bytes(), "test.onnx"); }

private:
    onnx::ModelProto m_model;
};

/// Runs a one-input graph and returns its first output.
inline core::OnnxValue runOne(const core::OnnxGraph& g, core::OnnxValue x) {
    core::OnnxSession s(g);
    return s.run({std::move(x)}).at(0);
}

} // namespace qs::test
