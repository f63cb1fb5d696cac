// SPDX-License-Identifier: MIT
// Each ONNX operator on a hand-built graph against values computed by hand.
#include "fixture_paths.h"
#include "onnx_test_graph.h"

#include "model/onnx_model.h"
#include "base/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

using namespace qs::core;
using qs::test::runOne;
using qs::test::TestGraph;

namespace {

OnnxValue F(Shape s, std::vector<float> v) { return OnnxValue::floats(std::move(s), std::move(v)); }

void expectNear(const OnnxValue& v, const Shape& shape, const std::vector<float>& want, float tol = 1e-6f) {
    ASSERT_EQ(v.shape, shape);
    ASSERT_EQ(v.f.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(v.f[i], want[i], tol) << "element " << i;
}

std::vector<float> iota(int n, float start = 1.0f) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
    return v;
}

// 3x3 image 1..9 through a 2x2 kernel [[1,0],[0,1]] (x[i][j] + x[i+1][j+1]) plus bias 0.5.
TestGraph conv2x2(const std::function<void(onnx::NodeProto*)>& attrs = {}) {
    TestGraph t;
    t.input("x", {-1, 1, 3, 3});
    t.init("w", {1, 1, 2, 2}, {1, 0, 0, 1});
    t.initRaw("b", {1}, {0.5f});
    auto* n = t.node("Conv", {"x", "w", "b"}, {"y"});
    if (attrs) attrs(n);
    t.output("y");
    return t;
}

} // namespace

TEST(OnnxOps, Conv2x2) {
    expectNear(runOne(conv2x2().parse(), F({1, 1, 3, 3}, iota(9))), {1, 1, 2, 2}, {6.5f, 8.5f, 12.5f, 14.5f});
}

TEST(OnnxOps, ConvPadsStrides) {
    // pads 1, stride 2: windows start at (-1,-1), (-1,1), (1,-1), (1,1).
    const auto g = conv2x2([](auto* n) {
                       TestGraph::attr(n, "pads", std::vector<std::int64_t>{1, 1, 1, 1});
                       TestGraph::attr(n, "strides", std::vector<std::int64_t>{2, 2});
                   }).parse();
    expectNear(runOne(g, F({1, 1, 3, 3}, iota(9))), {1, 1, 2, 2}, {1.5f, 3.5f, 7.5f, 14.5f});
}

TEST(OnnxOps, ConvSameUpperAndDilation) {
    // SAME_UPPER with a 2x2 kernel pads only at the end: out 3x3, last window sees x[2][2] + 0.
    const auto same = conv2x2([](auto* n) { TestGraph::attr(n, "auto_pad", std::string("SAME_UPPER")); }).parse();
    expectNear(runOne(same, F({1, 1, 3, 3}, iota(9))), {1, 1, 3, 3},
               {6.5f, 8.5f, 3.5f, 12.5f, 14.5f, 6.5f, 7.5f, 8.5f, 9.5f});
    // Dilation 2: the kernel spans 3x3, touching x[0][0] and x[2][2].
    const auto dil = conv2x2([](auto* n) { TestGraph::attr(n, "dilations", std::vector<std::int64_t>{2, 2}); }).parse();
    expectNear(runOne(dil, F({1, 1, 3, 3}, iota(9))), {1, 1, 1, 1}, {10.5f});
}

TEST(OnnxOps, ConvGroupsAndBatch) {
    TestGraph t;
    t.input("x", {-1, 2, 1, 2});
    t.init("w", {2, 1, 1, 1}, {2, 3});
    TestGraph::attr(t.node("Conv", {"x", "w"}, {"y"}), "group", std::int64_t{2});
    t.output("y");
    // Two images; channel 0 doubled, channel 1 tripled.
    expectNear(runOne(t.parse(), F({2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8})), {2, 2, 1, 2},
               {2, 4, 9, 12, 10, 12, 21, 24});
}

TEST(OnnxOps, GemmAlphaBetaTrans) {
    TestGraph t;
    t.input("a", {2, 3});
    t.init("b", {2, 3}, {1, 0, 1, 0, 1, 0}); // transB: B^T columns [1,0,1] and [0,1,0]
    t.init("c", {2}, {10, 20});
    auto* n = t.node("Gemm", {"a", "b", "c"}, {"y"});
    TestGraph::attr(n, "transB", std::int64_t{1});
    TestGraph::attrF(n, "alpha", 2.0f);
    TestGraph::attrF(n, "beta", 0.5f);
    t.output("y");
    // a = [[1,2,3],[4,5,6]]: a.B^T = [[4,2],[10,5]]; *2 + 0.5*[10,20].
    expectNear(runOne(t.parse(), F({2, 3}, iota(6))), {2, 2}, {13, 14, 25, 20});
}

TEST(OnnxOps, GemmTransANoTransB) {
    TestGraph t;
    t.input("a", {3, 1});
    t.init("b", {3, 2}, {1, 2, 3, 4, 5, 6});
    TestGraph::attr(t.node("Gemm", {"a", "b"}, {"y"}), "transA", std::int64_t{1});
    t.output("y");
    // [1,1,1] x B = column sums [9, 12].
    expectNear(runOne(t.parse(), F({3, 1}, {1, 1, 1})), {1, 2}, {9, 12});
}

TEST(OnnxOps, MatMulBatchedBroadcast) {
    TestGraph t;
    t.input("a", {2, 1, 3});
    t.init("b", {3, 2}, {1, 0, 0, 1, 1, 1});
    t.node("MatMul", {"a", "b"}, {"y"});
    t.output("y");
    // Each row [p,q,r] -> [p+r, q+r].
    expectNear(runOne(t.parse(), F({2, 1, 3}, {1, 2, 3, 4, 5, 6})), {2, 1, 2}, {4, 5, 10, 11});
}

TEST(OnnxOps, MatMulBatchBroadcastBothSides) {
    TestGraph t;
    t.input("a", {2, 1, 1, 2});
    t.init("b", {3, 2, 1}, {1, 0, 0, 1, 1, 1}); // three column vectors: e0, e1, e0+e1
    t.node("MatMul", {"a", "b"}, {"y"});
    t.output("y");
    // Batch dims [2,1] x [3] broadcast to [2,3].
    expectNear(runOne(t.parse(), F({2, 1, 1, 2}, {1, 2, 3, 4})), {2, 3, 1, 1}, {1, 2, 3, 3, 4, 7});
}

TEST(OnnxOps, BroadcastingArithmetic) {
    TestGraph t;
    t.input("x", {2, 3});
    t.init("row", {3}, {10, 20, 30});
    t.init("col", {2, 1}, {1, 2});
    t.node("Add", {"x", "row"}, {"s"});
    t.node("Mul", {"s", "col"}, {"m"});
    t.node("Sub", {"m", "col"}, {"d"});
    t.init("two", {}, {2});
    t.node("Div", {"d", "two"}, {"y"});
    t.output("y");
    // ((x + row) * col - col) / 2.
    expectNear(runOne(t.parse(), F({2, 3}, iota(6))), {2, 3}, {5, 10.5f, 16, 13, 24, 35});
}

TEST(OnnxOps, Activations) {
    for (const auto& [op, approx, want] : std::vector<std::tuple<std::string, std::string, std::vector<float>>>{
             {"Relu", "", {0, 0, 1}},
             {"Sigmoid", "", {0.26894142f, 0.5f, 0.73105858f}},
             {"Gelu", "none", {-0.15865525f, 0, 0.84134475f}},
             {"Gelu", "tanh", {-0.15880801f, 0, 0.84119199f}},
             {"Tanh", "", {-0.76159416f, 0, 0.76159416f}},
         }) {
        TestGraph t(20);
        t.input("x", {3});
        auto* n = t.node(op, {"x"}, {"y"});
        if (!approx.empty()) TestGraph::attr(n, "approximate", approx);
        t.output("y");
        expectNear(runOne(t.parse(), F({3}, {-1, 0, 1})), {3}, want);
    }
}

TEST(OnnxOps, SoftmaxAxis) {
    TestGraph t;
    t.input("x", {2, 3});
    TestGraph::attr(t.node("Softmax", {"x"}, {"y"}), "axis", std::int64_t{0});
    t.output("y");
    // Columns: softmax([0, ln 3]) = [1/4, 3/4].
    const float l3 = std::log(3.0f);
    expectNear(runOne(t.parse(), F({2, 3}, {0, 0, 0, l3, l3, l3})), {2, 3}, {0.25f, 0.25f, 0.25f, 0.75f, 0.75f, 0.75f});
    TestGraph last;
    last.input("x", {1, 3});
    last.node("Softmax", {"x"}, {"y"});
    last.output("y");
    expectNear(runOne(last.parse(), F({1, 3}, {0, std::log(2.0f), l3})), {1, 3}, {1 / 6.0f, 1 / 3.0f, 0.5f});
}

TEST(OnnxOps, BatchNormalization) {
    TestGraph t;
    t.input("x", {1, 2, 1, 2});
    t.init("scale", {2}, {1, 2});
    t.init("bias", {2}, {0, 1});
    t.init("mean", {2}, {1, 3});
    t.init("var", {2}, {4, 1});
    TestGraph::attrF(t.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"}), "epsilon", 0.0f);
    t.output("y");
    // ch0: (x-1)/2; ch1: (x-3)*2+1.
    expectNear(runOne(t.parse(), F({1, 2, 1, 2}, {1, 2, 3, 4})), {1, 2, 1, 2}, {0, 0.5f, 1, 3});
}

TEST(OnnxOps, LayerNormalization) {
    TestGraph t(17);
    t.input("x", {1, 4});
    t.init("s", {4}, {1, 1, 2, 2});
    t.init("b", {4}, {0, 0, 0, 1});
    TestGraph::attrF(t.node("LayerNormalization", {"x", "s", "b"}, {"y"}), "epsilon", 0.0f);
    t.output("y");
    // mean 2.5, variance 1.25.
    const float r = 1.0f / std::sqrt(1.25f);
    expectNear(runOne(t.parse(), F({1, 4}, {1, 2, 3, 4})), {1, 4}, {-1.5f * r, -0.5f * r, 2 * 0.5f * r, 2 * 1.5f * r + 1},
               1e-5f);
}

TEST(OnnxOps, TransposePerm) {
    TestGraph t;
    t.input("x", {1, 2, 3});
    TestGraph::attr(t.node("Transpose", {"x"}, {"y"}), "perm", std::vector<std::int64_t>{0, 2, 1});
    t.output("y");
    expectNear(runOne(t.parse(), F({1, 2, 3}, iota(6, 0))), {1, 3, 2}, {0, 3, 1, 4, 2, 5});
}

TEST(OnnxOps, ConcatAxis) {
    TestGraph t;
    t.input("x", {2, 1});
    t.init("c", {2, 2}, {3, 4, 5, 6});
    TestGraph::attr(t.node("Concat", {"x", "c"}, {"y"}), "axis", std::int64_t{-1});
    t.output("y");
    expectNear(runOne(t.parse(), F({2, 1}, {1, 2})), {2, 3}, {1, 3, 4, 2, 5, 6});
}

TEST(OnnxOps, ReshapeZeroAndMinusOne) {
    TestGraph t;
    t.input("x", {2, 3, 4});
    t.initInt64("shape", {2}, {0, -1});
    t.node("Reshape", {"x", "shape"}, {"y"});
    t.output("y");
    const auto y = runOne(t.parse(), F({2, 3, 4}, iota(24)));
    expectNear(y, {2, 12}, iota(24));
}

TEST(OnnxOps, ShapeGatherUnsqueezeConcatFlatten) {
    // PyTorch's x.view(x.size(0), -1) pattern, then Flatten/Squeeze round trips.
    TestGraph t;
    t.input("x", {-1, 2, 2});
    t.node("Shape", {"x"}, {"s"});
    t.initInt64("zero", {}, {0});
    t.node("Gather", {"s", "zero"}, {"n"});
    t.initInt64("axes", {1}, {0});
    t.node("Unsqueeze", {"n", "axes"}, {"n1"});
    t.initInt64("minus1", {1}, {-1});
    TestGraph::attr(t.node("Concat", {"n1", "minus1"}, {"shape"}), "axis", std::int64_t{0});
    t.node("Reshape", {"x", "shape"}, {"r"});
    t.node("Unsqueeze", {"r", "axes"}, {"u"});
    t.node("Squeeze", {"u", "axes"}, {"q"});
    TestGraph::attr(t.node("Flatten", {"q"}, {"y"}), "axis", std::int64_t{1});
    t.output("y");
    expectNear(runOne(t.parse(), F({3, 2, 2}, iota(12))), {3, 4}, iota(12));
}

TEST(OnnxOps, Pooling) {
    TestGraph mp;
    mp.input("x", {1, 1, 4, 4});
    auto* n = mp.node("MaxPool", {"x"}, {"y"});
    TestGraph::attr(n, "kernel_shape", std::vector<std::int64_t>{2, 2});
    TestGraph::attr(n, "strides", std::vector<std::int64_t>{2, 2});
    mp.output("y");
    expectNear(runOne(mp.parse(), F({1, 1, 4, 4}, iota(16, 0))), {1, 1, 2, 2}, {5, 7, 13, 15});

    for (int include : {0, 1}) {
        TestGraph ap;
        ap.input("x", {1, 1, 2, 2});
        auto* a = ap.node("AveragePool", {"x"}, {"y"});
        TestGraph::attr(a, "kernel_shape", std::vector<std::int64_t>{3, 3});
        TestGraph::attr(a, "pads", std::vector<std::int64_t>{1, 1, 1, 1});
        TestGraph::attr(a, "count_include_pad", std::int64_t{include});
        ap.output("y");
        // Every 3x3 window covers all four pixels (sum 10) and five padding cells.
        const float v = include ? 10.0f / 9.0f : 2.5f;
        expectNear(runOne(ap.parse(), F({1, 1, 2, 2}, {1, 2, 3, 4})), {1, 1, 2, 2}, {v, v, v, v});
    }

    TestGraph gp;
    gp.input("x", {1, 2, 2, 2});
    gp.node("GlobalAveragePool", {"x"}, {"y"});
    gp.output("y");
    expectNear(runOne(gp.parse(), F({1, 2, 2, 2}, iota(8))), {1, 2, 1, 1}, {2.5f, 6.5f});
}

TEST(OnnxOps, UnsupportedOperatorsAreListed) {
    TestGraph t;
    t.input("x", {1, 4});
    t.node("Relu", {"x"}, {"a"});
    t.node("LSTM", {"a"}, {"b"});
    t.node("FancyOp", {"b"}, {"y"});
    t.output("y");
    try {
        t.parse();
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("test.onnx"), std::string::npos) << msg;
        EXPECT_NE(msg.find("LSTM"), std::string::npos) << msg;
        EXPECT_NE(msg.find("FancyOp"), std::string::npos) << msg;
    }
}

TEST(OnnxOps, MissingInputAndBadShapesGiveClearErrors) {
    TestGraph t;
    t.input("x", {1, 4});
    t.node("Add", {"x", "nowhere"}, {"y"});
    t.output("y");
    EXPECT_THROW(
        {
            try {
                t.parse();
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos);
                throw;
            }
        },
        Error);

    // Conv weight for 3 input channels on a 1-channel image: caught when it runs, naming the node.
    TestGraph c;
    c.input("x", {-1, 1, 3, 3});
    c.init("w", {1, 3, 2, 2}, std::vector<float>(12, 1.0f));
    c.node("Conv", {"x", "w"}, {"y"});
    c.output("y");
    try {
        runOne(c.parse(), F({1, 1, 3, 3}, iota(9)));
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("test.onnx"), std::string::npos) << msg;
        EXPECT_NE(msg.find("Conv"), std::string::npos) << msg;
    }
    // Input shape against the declared one.
    EXPECT_THROW(runOne(c.parse(), F({1, 2, 3, 3}, iota(18))), Error);
}

TEST(OnnxOps, ExternalDataIsRejected) {
    TestGraph t;
    t.input("x", {1, 2});
    auto* w = t.graph().add_initializer();
    w->set_name("w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(2);
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = w->add_external_data();
    e->set_key("location"), e->set_value("weights.bin");
    t.node("Add", {"x", "w"}, {"y"});
    t.output("y");
    try {
        t.parse();
        FAIL() << "expected an Error";
    } catch (const Error& err) {
        EXPECT_NE(std::string(err.what()).find("external"), std::string::npos) << err.what();
    }
}

TEST(OnnxOps, TruncatedAndForeignFilesGiveClearErrors) {
    const auto dir = qs::test::outputDir("onnx_bad_files");
    std::ifstream in(qs::test::fixtures() / "digits-cnn" / "model.onnx", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 1000u);
    std::string random(4096, '\0');
    std::uint32_t s = 12345;
    for (auto& c : random) c = static_cast<char>((s = s * 1664525u + 1013904223u) >> 24);
    const std::vector<std::pair<std::string, std::string>> cases{
        {"half.onnx", bytes.substr(0, bytes.size() / 2)},
        {"head.onnx", bytes.substr(0, 100)},
        {"random.onnx", random},
        {"empty.onnx", ""},
        {"text.onnx", "this is not a model\n"},
    };
    for (const auto& [name, content] : cases) {
        const auto p = dir / name;
        std::ofstream(p, std::ios::binary) << content;
        try {
            OnnxModel::open(p);
            ADD_FAILURE() << name << ": expected an Error";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        }
    }
    EXPECT_THROW(OnnxModel::open(dir / "missing.onnx"), Error);
}

TEST(OnnxModelTest, WeightRolesAndLayouts) {
    TestGraph t;
    t.input("x", {-1, 1, 4, 4});
    t.init("conv.w", {2, 1, 3, 3}, std::vector<float>(18, 0.1f));
    t.init("conv.b", {2}, {0, 0});
    t.node("Conv", {"x", "conv.w", "conv.b"}, {"c"});
    t.initInt64("shape", {2}, {0, -1});
    t.node("Reshape", {"c", "shape"}, {"f"});
    t.init("gemm.w", {8, 5}, std::vector<float>(40, 0.2f)); // transB = 0: [in, out]
    t.node("Gemm", {"f", "gemm.w"}, {"g"});
    t.init("mm.w", {5, 3}, std::vector<float>(15, 0.3f));
    t.node("MatMul", {"g", "mm.w"}, {"m"});
    t.init("mm.b", {3}, {1, 2, 3});
    t.node("Add", {"m", "mm.b"}, {"y"});
    t.output("y");
    const auto model = OnnxModel::fromGraph(t.parse());
    ASSERT_EQ(model->weights().size(), 5u); // the int64 shape constant is not a weight
    const auto* cw = model->find("conv.w");
    ASSERT_TRUE(cw);
    EXPECT_TRUE(cw->quantizable);
    EXPECT_EQ(cw->role, WeightRole::Linear);
    EXPECT_EQ(cw->matrixRows(), 2);
    EXPECT_EQ(cw->matrixCols(), 9);
    EXPECT_EQ(model->find("conv.b")->role, WeightRole::Bias);
    const auto* gw = model->find("gemm.w");
    EXPECT_TRUE(gw->quantizable && gw->transposed);
    EXPECT_EQ(gw->matrixRows(), 5);
    EXPECT_EQ(gw->matrixCols(), 8);
    const auto* mw = model->find("mm.w");
    EXPECT_TRUE(mw->quantizable && mw->transposed);
    EXPECT_EQ(mw->layerIndex, 2);
    EXPECT_EQ(model->find("mm.b")->role, WeightRole::Bias);
    EXPECT_EQ(model->config().arch, Architecture::Onnx);
    // 4x4 image of ones: conv (pad 0) gives 2x2 of 0.9 per channel; Gemm sums 8 x 0.9 x 0.2; MatMul 5 x 1.44 x 0.3.
    OnnxSession s(model->graph());
    const auto y = s.run({F({1, 1, 4, 4}, std::vector<float>(16, 1.0f))}).at(0);
    expectNear(y, {1, 3}, {1 + 2.16f, 2 + 2.16f, 3 + 2.16f}, 1e-5f);
}
