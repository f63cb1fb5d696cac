// SPDX-License-Identifier: MIT
// ONNX: the protobuf (graph, initializers, attributes), the model view over it (weight roles, [out, in]
// matrices) and one run of the graph on zero inputs, as eval would run a user's classifier.
#include "fuzz_util.h"
#include "model/onnx_model.h"
#include "onnx/onnx_graph.h"
#include "onnx/onnx_session.h"
#include "onnx/onnx_value.h"

#include <vector>

namespace {

// Zero inputs of the declared shapes (symbolic dims as 1); false when one would be large.
bool zeroInputs(const qs::core::OnnxGraph& g, std::vector<qs::core::OnnxValue>& out) {
    for (const auto& in : g.inputs) {
        qs::core::Shape shape;
        std::int64_t n = 1;
        for (auto d : in.dims) {
            shape.push_back(d < 0 ? 1 : d);
            n *= shape.back();
            if (n > 65536) return false;
        }
        out.push_back(qs::core::OnnxValue::floats(shape, std::vector<float>(static_cast<std::size_t>(n), 0.0f)));
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qs::core;
    return qs::fuzz::runOne([&] {
        OnnxGraph graph = OnnxGraph::parse(qs::fuzz::asView(data, size), "model.onnx");
        std::vector<OnnxValue> inputs;
        if (zeroInputs(graph, inputs)) OnnxSession(graph).run(inputs);
        const auto model = OnnxModel::fromGraph(std::move(graph));
        for (const auto& w : model->weights()) model->weightAsOutIn(w);
    });
}
