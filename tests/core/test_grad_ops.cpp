// SPDX-License-Identifier: MIT
// Each backward rule of nn/grad_kernels.h against central finite differences of its forward rule,
// in float64: f(θ) = Σ r ∘ op(θ) for a random r, so ∂f/∂θ is the backward rule applied to r.
#include "nn/grad_kernels.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

using namespace qs::core;
using namespace qs::core::grad;

namespace {

std::vector<double> randomVector(std::size_t n, unsigned seed, double scale = 1.0) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, scale);
    std::vector<double> v(n);
    for (auto& x : v) x = normal(rng);
    return v;
}

double dotWith(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// Checks analytic[i] against (f(θ + h e_i) − f(θ − h e_i)) / 2h for every coordinate of θ.
void expectFiniteDifferences(std::vector<double>& theta, const std::function<double()>& f,
                             const std::vector<double>& analytic, const char* what) {
    ASSERT_EQ(theta.size(), analytic.size()) << what;
    const double h = 1e-6;
    for (std::size_t i = 0; i < theta.size(); ++i) {
        const double saved = theta[i];
        theta[i] = saved + h;
        const double up = f();
        theta[i] = saved - h;
        const double down = f();
        theta[i] = saved;
        const double fd = (up - down) / (2 * h);
        EXPECT_NEAR(analytic[i], fd, 1e-7 * std::max(1.0, std::abs(fd))) << what << " coordinate " << i;
    }
}

Mat<double> matOf(const std::vector<double>& v, std::int64_t rows, std::int64_t cols) {
    Mat<double> m(rows, cols);
    m.a = v;
    return m;
}

} // namespace

TEST(GradOps, NormsMatchFiniteDifferences) {
    for (const bool layerNorm : {false, true}) {
        SCOPED_TRACE(layerNorm ? "LayerNorm" : "RMSNorm");
        const std::int64_t rows = 3, cols = 7;
        std::vector<double> x = randomVector(rows * cols, 1), w = randomVector(cols, 2), b = randomVector(cols, 3);
        for (auto& e : w) e += 1.0;
        const std::vector<double> r = randomVector(rows * cols, 4);
        auto f = [&] {
            Mat<double> y;
            NormCache<double> c;
            normForward(layerNorm, matOf(x, rows, cols), w.data(), layerNorm ? b.data() : nullptr, 1e-5f, y, c);
            return dotWith(y.a, r);
        };
        Mat<double> y;
        NormCache<double> cache;
        const Mat<double> xm = matOf(x, rows, cols);
        normForward(layerNorm, xm, w.data(), layerNorm ? b.data() : nullptr, 1e-5f, y, cache);
        Mat<double> dx(rows, cols);
        std::vector<double> gw(cols), gb(cols);
        normBackward(layerNorm, xm, w.data(), cache, matOf(r, rows, cols), dx, gw.data(),
                     layerNorm ? gb.data() : nullptr);
        expectFiniteDifferences(x, f, dx.a, "input");
        expectFiniteDifferences(w, f, gw, "weight");
        if (layerNorm) expectFiniteDifferences(b, f, gb, "bias");
    }
}

TEST(GradOps, ActivationDerivativesMatchFiniteDifferences) {
    for (const Act a : {Act::Silu, Act::GeluTanh, Act::GeluErf, Act::Relu}) {
        for (const double z : {-3.1, -0.7, -0.05, 0.2, 1.3, 4.0}) {
            const double h = 1e-6;
            const double fd = (activation(a, z + h) - activation(a, z - h)) / (2 * h);
            EXPECT_NEAR(activationDerivative(a, z), fd, 1e-9) << static_cast<int>(a) << " at " << z;
        }
    }
    // Dual numbers carry the derivative of f and of f' (what forward-over-reverse needs).
    for (const Act a : {Act::Silu, Act::GeluTanh, Act::GeluErf}) {
        const double z = 0.37, h = 1e-6;
        EXPECT_NEAR(activation(a, Dual<double>(z, 1.0)).d, activationDerivative(a, z), 1e-12);
        const double fd2 = (activationDerivative(a, z + h) - activationDerivative(a, z - h)) / (2 * h);
        EXPECT_NEAR(activationDerivative(a, Dual<double>(z, 1.0)).d, fd2, 1e-7);
    }
}

TEST(GradOps, RotationBackwardIsTheInverseRotation) {
    const int heads = 2, hd = 6;
    const std::int64_t seq = 4;
    std::vector<float> cos(seq * hd / 2), sin(seq * hd / 2);
    for (std::size_t i = 0; i < cos.size(); ++i) {
        cos[i] = static_cast<float>(std::cos(0.3 * double(i)));
        sin[i] = static_cast<float>(std::sin(0.3 * double(i)));
    }
    std::vector<double> x = randomVector(seq * heads * hd, 5);
    const std::vector<double> r = randomVector(x.size(), 6);
    auto f = [&] {
        Mat<double> m = matOf(x, seq, heads * hd);
        rotate(viewOf(m), heads, hd, cos, sin, false);
        return dotWith(m.a, r);
    };
    Mat<double> g = matOf(r, seq, heads * hd);
    rotate(viewOf(g), heads, hd, cos, sin, true);
    expectFiniteDifferences(x, f, g.a, "rope");
}

TEST(GradOps, CausalSoftmaxBackwardMatchesFiniteDifferences) {
    for (const int window : {0, 3}) {
        SCOPED_TRACE(window);
        const std::int64_t n = 6;
        std::vector<double> s = randomVector(n * n, 7, 2.0);
        const std::vector<double> r = randomVector(n * n, 8);
        const float scaleDiv = 1.7f;
        auto f = [&] {
            Mat<double> p = matOf(s, n, n);
            causalSoftmax(viewOf(p), scaleDiv, window);
            return dotWith(p.a, r);
        };
        Mat<double> p = matOf(s, n, n);
        causalSoftmax(viewOf(p), scaleDiv, window);
        Mat<double> dp = matOf(r, n, n);
        causalSoftmaxBackward(viewOf(std::as_const(p)), viewOf(dp), scaleDiv);
        // Entries above the diagonal never reach the output; those outside the window neither.
        expectFiniteDifferences(s, f, dp.a, "softmax");
        for (std::int64_t i = 0; i < n; ++i) {
            double sum = 0;
            for (std::int64_t j = 0; j < n; ++j) sum += p.row(i)[j];
            EXPECT_NEAR(sum, 1.0, 1e-12);
            if (window > 0)
                for (std::int64_t j = 0; j + window <= i; ++j) {
                    EXPECT_EQ(p.row(i)[j], 0.0);
                }
        }
    }
}

TEST(GradOps, CrossEntropyGradientIsSoftmaxMinusOneHot) {
    std::vector<double> logits = randomVector(9, 9, 3.0);
    const std::int32_t target = 4;
    auto f = [&] { return static_cast<double>(crossEntropyRow<double>(logits.data(), 9, target, nullptr, 1.0)); };
    std::vector<double> g(9);
    crossEntropyRow<double>(logits.data(), 9, target, g.data(), 1.0);
    expectFiniteDifferences(logits, f, g, "cross entropy");
}

TEST(GradOps, DualProductsCarryTheProductRule) {
    // (A + εA')(B + εB')ᵀ through the float32 products against the same sums done by hand.
    const std::int64_t m = 5, k = 7, n = 3;
    Mat<Dual<float>> a(m, k), b(n, k), c(m, n);
    const auto av = randomVector(2 * m * k, 10), bv = randomVector(2 * n * k, 11);
    for (std::size_t i = 0; i < a.a.size(); ++i) a.a[i] = Dual<float>(float(av[2 * i]), float(av[2 * i + 1]));
    for (std::size_t i = 0; i < b.a.size(); ++i) b.a[i] = Dual<float>(float(bv[2 * i]), float(bv[2 * i + 1]));
    product<Dual<float>>(Product::NT, viewOf(std::as_const(a)), viewOf(std::as_const(b)), viewOf(c));
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
            double v = 0, d = 0;
            for (std::int64_t t = 0; t < k; ++t) {
                v += double(a.row(i)[t].v) * b.row(j)[t].v;
                d += double(a.row(i)[t].d) * b.row(j)[t].v + double(a.row(i)[t].v) * b.row(j)[t].d;
            }
            EXPECT_NEAR(c.row(i)[j].v, v, 1e-5);
            EXPECT_NEAR(c.row(i)[j].d, d, 1e-5);
        }
}

TEST(GradOps, TransposeOfEveryShapeAndStride) {
    for (const std::int64_t rows : {1, 7, 8, 9, 16, 23})
        for (const std::int64_t cols : {1, 8, 13, 24}) {
            const std::int64_t stride = cols + 3;
            std::vector<float> data(static_cast<std::size_t>(rows * stride));
            for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
            const Mat<float> t = transposed(View<const float>{data.data(), rows, cols, stride});
            ASSERT_EQ(t.rows, cols);
            ASSERT_EQ(t.cols, rows);
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t c = 0; c < cols; ++c)
                    ASSERT_EQ(t.row(c)[r], data[static_cast<std::size_t>(r * stride + c)]) << rows << "x" << cols;
        }
}
