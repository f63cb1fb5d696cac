// SPDX-License-Identifier: MIT
// GPTQ (core/quant/gptq): the fixture's PyTorch unit case and closed forms (diagonal Hessian = RTN;
// the layer objective ||(W - Q) X^T||^2 never above RTN's on random problems).
#include "experiment/builtins.h"
#include "fixture_paths.h"
#include "io/npy.h"
#include "quant/fake_quant.h"
#include "quant/gptq.h"
#include "base/error.h"

#include <Eigen/Core>
#include <cmath>
#include <gtest/gtest.h>
#include <random>

using namespace qs::core;

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::vector<float> loadF32(const char* file, const Shape& shape) {
    const Tensor t = readNpy(qs::test::tinyLlama() / file);
    EXPECT_EQ(t.dtype(), DType::F32) << file;
    EXPECT_EQ(t.shape(), shape) << file;
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

QuantSpec asymGroup(FormatId f, int group) { return QuantSpec{f, Granularity::Group, group, false}; }

// A random layer problem: W [rows, cols] ~ N(0, 0.02), X [tokens, cols] with correlated channels and
// a few outlier channels (as real activations have), H = 2/n X^T X.
struct Problem {
    std::vector<float> w, h;
    RowMatrixD xtx;
    std::int64_t rows, cols;
};

Problem randomProblem(std::int64_t rows, std::int64_t cols, std::int64_t tokens, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n01(0.0f, 1.0f);
    Problem p{{}, {}, {}, rows, cols};
    p.w.resize(static_cast<std::size_t>(rows * cols));
    for (auto& v : p.w) v = 0.02f * n01(rng);
    RowMatrixF z(tokens, cols), mix(cols, cols);
    for (std::int64_t i = 0; i < z.size(); ++i) z.data()[i] = n01(rng);
    for (std::int64_t i = 0; i < mix.size(); ++i) mix.data()[i] = n01(rng) / std::sqrt(static_cast<float>(cols));
    mix.diagonal().array() += 1.0f;
    RowMatrixF x = z * mix;
    for (std::int64_t c = 0; c < cols; c += 37) x.col(c) *= 20.0f;
    p.xtx = x.cast<double>().transpose() * x.cast<double>();
    p.h.resize(static_cast<std::size_t>(cols * cols));
    for (std::int64_t i = 0; i < cols * cols; ++i) p.h[static_cast<std::size_t>(i)] = static_cast<float>(2.0 / tokens * p.xtx.data()[i]);
    return p;
}

// tr(E XtX E^T), E = W - Q: the GPTQ layer objective ||(W - Q) X^T||^2.
double objective(const Problem& p, const std::vector<float>& q) {
    RowMatrixD e(p.rows, p.cols);
    for (std::int64_t i = 0; i < e.size(); ++i) e.data()[i] = static_cast<double>(p.w[static_cast<std::size_t>(i)]) - q[static_cast<std::size_t>(i)];
    return (e * p.xtx).cwiseProduct(e).sum();
}

std::vector<float> rtn(const Problem& p, const QuantSpec& spec) {
    std::vector<float> q(p.w.size());
    fakeQuantize(p.w.data(), p.rows, p.cols, spec, q.data());
    return q;
}

std::vector<float> gptq(const Problem& p, const QuantSpec& spec, const GptqOptions& o = {}) {
    std::vector<float> q(p.w.size());
    gptqQuantize(p.w.data(), p.rows, p.cols, p.h.data(), spec, o, q.data());
    return q;
}

} // namespace

TEST(GptqFixture, UnitCaseQProj0Int4G32MatchesPyTorch) {
    const std::vector<float> h = loadF32("ref_gptq_q0_H.npy", {192, 192});
    const std::vector<float> w = loadF32("ref_gptq_q0_W.npy", {192, 192});
    const std::vector<float> refQ = loadF32("ref_gptq_q0_Q_int4g32.npy", {192, 192});
    const std::vector<float> refScales = loadF32("ref_gptq_q0_scales_int4g32.npy", {192, 6});
    const std::vector<float> refZeros = loadF32("ref_gptq_q0_zeros_int4g32.npy", {192, 6});
    const Tensor codesT = readNpy(qs::test::tinyLlama() / "ref_gptq_q0_codes_int4g32.npy");
    ASSERT_EQ(codesT.dtype(), DType::U8);
    const std::uint8_t* refCodes = codesT.data<std::uint8_t>();

    std::vector<float> q(w.size());
    std::vector<ScaleParams> params;
    gptqQuantize(w.data(), 192, 192, h.data(), asymGroup(FormatId::Int4, 32), {}, q.data(), {}, "q0", &params);
    ASSERT_EQ(params.size(), 192u * 6);

    // A float32 chain of rounding decisions: float64 vs float32 alone flips 0.25 % of the codes (README 2.6).
    std::size_t codesSame = 0, qSame = 0, zerosSame = 0, scalesClose = 0;
    for (int r = 0; r < 192; ++r)
        for (int c = 0; c < 192; ++c) {
            const ScaleParams& p = params[static_cast<std::size_t>(r * 6 + c / 32)];
            const float code = std::nearbyint(q[static_cast<std::size_t>(r * 192 + c)] / p.scale) + p.zero;
            codesSame += code == static_cast<float>(refCodes[r * 192 + c]);
            qSame += std::fabs(q[static_cast<std::size_t>(r * 192 + c)] - refQ[static_cast<std::size_t>(r * 192 + c)]) <=
                     1e-6f * std::fabs(refQ[static_cast<std::size_t>(r * 192 + c)]);
        }
    for (std::size_t g = 0; g < params.size(); ++g) {
        zerosSame += params[g].zero == refZeros[g];
        scalesClose += std::fabs(params[g].scale - refScales[g]) <= 1e-5f * refScales[g];
    }
    const double n = 192.0 * 192.0;
    EXPECT_GE(codesSame / n, 0.99) << codesSame;
    EXPECT_GE(qSame / n, 0.99) << qSame;
    EXPECT_GE(zerosSame / 1152.0, 0.99) << zerosSame;
    EXPECT_GE(scalesClose / 1152.0, 0.98) << scalesClose;
    // The relation Q = scale * (code - zero) holds for our own output exactly.
    for (int r = 0; r < 192; r += 17)
        for (int c = 0; c < 192; c += 5) {
            const ScaleParams& p = params[static_cast<std::size_t>(r * 6 + c / 32)];
            const float code = std::nearbyint(q[static_cast<std::size_t>(r * 192 + c)] / p.scale) + p.zero;
            EXPECT_EQ(q[static_cast<std::size_t>(r * 192 + c)], p.scale * (code - p.zero));
            EXPECT_GE(code, 0.0f);
            EXPECT_LE(code, 15.0f);
        }
}

TEST(GptqClosedForm, DiagonalHessianEqualsRtn) {
    Problem p = randomProblem(48, 160, 256, 7);
    // A diagonal H: U is diagonal, so no error is fed forward and every group keeps its RTN scale.
    for (std::int64_t i = 0; i < p.cols; ++i)
        for (std::int64_t j = 0; j < p.cols; ++j)
            if (i != j) p.h[static_cast<std::size_t>(i * p.cols + j)] = 0.0f;
    for (const QuantSpec& spec :
         {asymGroup(FormatId::Int4, 32), QuantSpec{FormatId::Int3, Granularity::Channel, 0, true},
          QuantSpec{FormatId::MxFp4, Granularity::Block, 32, true}, QuantSpec{FormatId::NvFp4, Granularity::Block, 16, true},
          QuantSpec{FormatId::Fp8E4M3, Granularity::Group, 32, true}}) {
        for (const bool actOrder : {false, true}) {
            GptqOptions o;
            o.actOrder = actOrder;
            o.staticGroups = actOrder;
            o.block = 48; // groups straddling lazy blocks
            EXPECT_EQ(gptq(p, spec, o), rtn(p, spec)) << spec.label() << " act_order " << actOrder;
        }
    }
}

TEST(GptqClosedForm, ObjectiveNotAboveRtnOnRandomProblems) {
    struct Case {
        QuantSpec spec;
        const char* what;
    };
    const Case cases[] = {{asymGroup(FormatId::Int4, 32), "int4 g32 asym"},
                          {asymGroup(FormatId::Int3, 32), "int3 g32 asym"},
                          {QuantSpec{FormatId::Int4, Granularity::Channel, 0, true}, "int4 channel sym"},
                          {QuantSpec{FormatId::MxFp4, Granularity::Block, 32, true}, "mxfp4"},
                          {QuantSpec{FormatId::NvFp4, Granularity::Block, 16, true}, "nvfp4"}};
    for (unsigned seed : {1u, 2u}) {
        const Problem p = randomProblem(64, 256, 1024, seed);
        for (const Case& c : cases) {
            const double base = objective(p, rtn(p, c.spec));
            GptqOptions plain;
            const double g = objective(p, gptq(p, c.spec, plain));
            EXPECT_LT(g, base) << c.what << " seed " << seed;
            GptqOptions act;
            act.actOrder = true;
            EXPECT_LE(objective(p, gptq(p, c.spec, act)), base) << c.what << " act_order";
            act.staticGroups = true;
            EXPECT_LE(objective(p, gptq(p, c.spec, act)), base) << c.what << " act_order static_groups";
            GptqOptions stale;
            stale.groupParams = GptqGroupParams::BlockStart;
            stale.block = 64;
            EXPECT_LE(objective(p, gptq(p, c.spec, stale)), base) << c.what << " block_start";
        }
    }
}

TEST(GptqClosedForm, CurrentGroupParamsDoNotDependOnBlockSize) {
    // One block of all columns = every update applied at once (the unblocked algorithm). Blocks of 7
    // make groups of 32 straddle blocks: their current values need the block's pending updates.
    const Problem p = randomProblem(40, 200, 512, 3);
    const QuantSpec spec = asymGroup(FormatId::Int4, 32);
    GptqOptions whole, small, standard;
    whole.block = 200;
    small.block = 7;
    standard.block = 128;
    std::vector<ScaleParams> pw, ps, pb;
    std::vector<float> qw(p.w.size()), qs(p.w.size()), qb(p.w.size());
    gptqQuantize(p.w.data(), p.rows, p.cols, p.h.data(), spec, whole, qw.data(), {}, "w", &pw);
    gptqQuantize(p.w.data(), p.rows, p.cols, p.h.data(), spec, small, qs.data(), {}, "w", &ps);
    gptqQuantize(p.w.data(), p.rows, p.cols, p.h.data(), spec, standard, qb.data(), {}, "w", &pb);
    // Only float32 summation order differs: scales agree to rounding, codes (almost) all.
    auto codesSame = [&](const std::vector<float>& q, const std::vector<ScaleParams>& params) {
        std::size_t same = 0;
        for (std::int64_t r = 0; r < p.rows; ++r)
            for (std::int64_t c = 0; c < p.cols; ++c) {
                const auto i = static_cast<std::size_t>(r * p.cols + c);
                const ScaleParams& a = pw[static_cast<std::size_t>(r * 7 + c / 32)];
                const ScaleParams& b = params[static_cast<std::size_t>(r * 7 + c / 32)];
                same += std::nearbyint(qw[i] / a.scale) + a.zero == std::nearbyint(q[i] / b.scale) + b.zero;
            }
        return static_cast<double>(same) / static_cast<double>(q.size());
    };
    EXPECT_GE(codesSame(qs, ps), 0.995);
    EXPECT_GE(codesSame(qb, pb), 0.995);
    for (std::size_t g = 0; g < pw.size(); ++g) EXPECT_NEAR(ps[g].scale, pw[g].scale, 1e-3 * pw[g].scale) << g;
    EXPECT_NEAR(objective(p, qs) / objective(p, qw), 1.0, 0.01);
    // block_start differs from current exactly when groups start inside a block.
    GptqOptions stale = small;
    stale.groupParams = GptqGroupParams::BlockStart;
    EXPECT_NE(gptq(p, spec, stale), qs);
    stale.block = 32; // every group starts a block: both rules see the same weights
    GptqOptions aligned = stale;
    aligned.groupParams = GptqGroupParams::Current;
    EXPECT_EQ(gptq(p, spec, stale), gptq(p, spec, aligned));
}

TEST(GptqClosedForm, DeadColumnsAndBadHessian) {
    Problem p = randomProblem(16, 64, 256, 5);
    for (std::int64_t j = 0; j < p.cols; ++j) {
        p.h[static_cast<std::size_t>(3 * p.cols + j)] = 0.0f;
        p.h[static_cast<std::size_t>(j * p.cols + 3)] = 0.0f;
    }
    const auto q = gptq(p, asymGroup(FormatId::Int4, 32));
    for (std::int64_t r = 0; r < p.rows; ++r) EXPECT_EQ(q[static_cast<std::size_t>(r * p.cols + 3)], 0.0f);
    // An indefinite H without dampening cannot be factored: a clear error naming the weight.
    std::vector<float> bad(static_cast<std::size_t>(p.cols * p.cols), 0.0f);
    for (std::int64_t i = 0; i < p.cols; ++i) bad[static_cast<std::size_t>(i * p.cols + i)] = i == 5 ? -1.0f : 1.0f;
    GptqOptions o;
    o.damp = 0.0;
    std::vector<float> out(p.w.size());
    try {
        gptqQuantize(p.w.data(), p.rows, p.cols, bad.data(), asymGroup(FormatId::Int4, 32), o, out.data(), {}, "w.bad");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("w.bad"), std::string::npos) << e.what();
    }
}

TEST(GptqRegistry, DeclaredOnceWithCalibration) {
    Registries reg;
    registerBuiltins(reg);
    const Quantizer& q = reg.quantizers.get("gptq", "method");
    EXPECT_TRUE(q.needsCalibration());
    const nlohmann::json p = validateParams(q.params(), nlohmann::json::object(), "gptq");
    EXPECT_DOUBLE_EQ(p["damp"].get<double>(), 0.01);
    EXPECT_EQ(p["block"].get<int>(), 128);
    EXPECT_FALSE(p["act_order"].get<bool>());
    EXPECT_FALSE(p["static_groups"].get<bool>());
    EXPECT_EQ(p["group_params"].get<std::string>(), "current");
    std::vector<float> w(4 * 8, 0.1f), out(w.size());
    EXPECT_THROW(q.quantize({w.data(), 4, 8, "x", nullptr}, asymGroup(FormatId::Int4, 8), p, out.data(), {}), Error);
}
