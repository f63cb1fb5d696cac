// SPDX-License-Identifier: MIT
// Hadamard / rotation math against explicit matrices built here (independent of the FWHT code).
#include "base/error.h"
#include "transform/hadamard.h"
#include "transform/rotation.h"
#include "transform/transform_math.h"

#include <Eigen/Dense>
#include <gtest/gtest.h>
#include <random>

namespace qs::core {
namespace {

// Sylvester's recursion written out: H_1 = [1], H_2n = [[H, H], [H, -H]].
Eigen::MatrixXd sylvester(int n) {
    Eigen::MatrixXd h = Eigen::MatrixXd::Ones(1, 1);
    while (h.rows() < n) {
        const auto m = h.rows();
        Eigen::MatrixXd g(2 * m, 2 * m);
        g << h, h, h, -h;
        h = g;
    }
    return h;
}

Eigen::RowVectorXd randomRow(int n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-2, 2);
    Eigen::RowVectorXd x(n);
    for (int i = 0; i < n; ++i) x[i] = u(rng);
    return x;
}

TEST(Hadamard, FwhtEqualsExplicitSylvesterProduct) {
    for (int n : {1, 2, 4, 8, 64, 256}) {
        const Eigen::RowVectorXd x = randomRow(n, 7u + static_cast<unsigned>(n));
        std::vector<float> v(x.data(), x.data() + n);
        fwht(v.data(), n);
        const Eigen::RowVectorXd ref = x * sylvester(n);
        for (int i = 0; i < n; ++i) EXPECT_NEAR(v[static_cast<std::size_t>(i)], ref[i], 1e-4 * (1 + std::abs(ref[i]))) << n;
    }
    std::vector<float> bad(12);
    EXPECT_THROW(fwht(bad.data(), 12), Error);
}

TEST(Hadamard, PlanMatricesAreHadamard) {
    // Power of two, Paley (12, 20, 24), Sylvester x Paley (192 = 16 x 12, 40 = 2 x 20).
    for (int n : {32, 12, 20, 24, 40, 192}) {
        const HadamardPlan plan(n);
        EXPECT_TRUE(plan.isFull()) << n;
        const Eigen::MatrixXd h = plan.matrix().cast<double>();
        EXPECT_TRUE((h.array().abs() == 1.0).all()) << n << " entries are not +-1";
        EXPECT_NEAR((h * h.transpose() - n * Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff(), 0.0, 1e-9) << n;
        if ((n & (n - 1)) == 0) {
            EXPECT_NEAR((h - sylvester(n)).cwiseAbs().maxCoeff(), 0.0, 0.0) << n;
        }
    }
    EXPECT_EQ(HadamardPlan(192).describe(), "sylvester 16 x paley 12");
}

TEST(Hadamard, TransposeApplyMatchesExplicitTranspose) {
    const HadamardPlan plan(20);
    const Eigen::MatrixXd h = plan.matrix().cast<double>();
    const Eigen::RowVectorXd x = randomRow(20, 3);
    std::vector<float> v(x.data(), x.data() + 20);
    plan.apply(v.data(), 1, true);
    const Eigen::RowVectorXd ref = x * h.transpose();
    for (int i = 0; i < 20; ++i) EXPECT_NEAR(v[static_cast<std::size_t>(i)], ref[i], 1e-4);
}

TEST(Hadamard, NonPowerOfTwoFallbackIsOrthogonalBlockDiagonal) {
    // 28 = 4 * 7: 27 is not prime, no Paley factor; block-diagonal of 7 Sylvester 4 x 4 blocks.
    const HadamardPlan plan(28);
    EXPECT_FALSE(plan.isFull());
    EXPECT_EQ(plan.describe(), "block-diagonal 7 x sylvester 4");
    const Eigen::MatrixXd h = plan.matrix().cast<double>() * plan.normalization();
    EXPECT_NEAR((h * h.transpose() - Eigen::MatrixXd::Identity(28, 28)).cwiseAbs().maxCoeff(), 0.0, 1e-6);
    EXPECT_NEAR((h.block(4, 4, 4, 4) * 2.0 - sylvester(4)).cwiseAbs().maxCoeff(), 0.0, 1e-6);
    EXPECT_EQ(h.block(0, 4, 4, 4).cwiseAbs().maxCoeff(), 0.0);
}

TEST(Rotation, RandomizedHadamardAndOrthogonalAreOrthogonal) {
    for (auto kind : {RotationKind::Hadamard, RotationKind::Orthogonal})
        for (int n : {64, 192, 28, 7}) {
            const Rotation r = Rotation::random(kind, n, 42);
            const Eigen::MatrixXd q = r.matrix().cast<double>();
            EXPECT_LT((q.transpose() * q - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff(), 1e-6)
                << rotationKindName(kind) << " " << n;
            // apply / inverse against the explicit matrix.
            const Eigen::RowVectorXd x = randomRow(n, 11);
            std::vector<float> v(x.data(), x.data() + n);
            r.apply(v.data(), 1);
            const Eigen::RowVectorXd ref = x * q;
            for (int i = 0; i < n; ++i) EXPECT_NEAR(v[static_cast<std::size_t>(i)], ref[i], 1e-5);
            r.apply(v.data(), 1, true);
            for (int i = 0; i < n; ++i) EXPECT_NEAR(v[static_cast<std::size_t>(i)], x[i], 1e-5);
        }
    // Seeded: same seed, same matrix; different seed, different matrix.
    EXPECT_EQ(randomOrthogonal(16, 5), randomOrthogonal(16, 5));
    EXPECT_NE(randomOrthogonal(16, 5), randomOrthogonal(16, 6));
    EXPECT_NE(Rotation::random(RotationKind::Hadamard, 16, 1).matrix(), Rotation::random(RotationKind::Hadamard, 16, 2).matrix());
}

TEST(TransformMath, PrincipalBasisSortsByEigenvalue) {
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(3, 3);
    a.diagonal() << 1.0, 5.0, 2.0;
    const Eigen::MatrixXd q = randomOrthogonal(3, 9);
    const Eigen::MatrixXd m = q * a * q.transpose();
    Eigen::VectorXd ev;
    const Eigen::MatrixXd p = principalBasis(m, &ev);
    EXPECT_NEAR(ev[0], 5.0, 1e-9);
    EXPECT_NEAR(ev[2], 1.0, 1e-9);
    EXPECT_NEAR(std::abs(p.col(0).dot(q.col(1))), 1.0, 1e-9);
}

TEST(TransformMath, SmoothQuantScales) {
    const auto s = smoothQuantScales({4.0, 0.0, 9.0}, {1.0, 2.0, 4.0}, 0.5);
    EXPECT_FLOAT_EQ(s[0], 2.0f); // sqrt(4) / sqrt(1)
    EXPECT_FLOAT_EQ(s[1], 1.0f); // dead channel: unchanged
    EXPECT_FLOAT_EQ(s[2], 1.5f); // 3 / 2
    const auto s1 = smoothQuantScales({8.0}, {2.0}, 1.0);
    EXPECT_FLOAT_EQ(s1[0], 8.0f);
}

} // namespace
} // namespace qs::core
