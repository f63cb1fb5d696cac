// SPDX-License-Identifier: MIT
#include "transform/rotation.h"

#include "base/error.h"
#include "base/uniform.h"

#include <Eigen/QR>
#include <cmath>
#include <numbers>
#include <random>

namespace qs::core {

std::string rotationKindName(RotationKind k) { return k == RotationKind::Hadamard ? "hadamard" : "orthogonal"; }

RotationKind parseRotationKind(const std::string& name) {
    if (name == "hadamard") return RotationKind::Hadamard;
    if (name == "orthogonal") return RotationKind::Orthogonal;
    throw Error("rotation kind '" + name + "' is unknown (hadamard, orthogonal)");
}

Eigen::MatrixXd randomOrthogonal(std::int64_t n, std::uint64_t seed) {
    if (n < 1) throw Error("random orthogonal: order must be >= 1");
    std::mt19937_64 rng(seed);
    // Box-Muller on 53-bit uniforms: std::normal_distribution differs between standard libraries.
    auto uniform = [&] { return uniformOpen01(rng); };
    Eigen::MatrixXd g(n, n);
    for (std::int64_t i = 0; i < n * n; i += 2) {
        const double r = std::sqrt(-2.0 * std::log(uniform())), t = 2.0 * std::numbers::pi * uniform();
        g.data()[i] = r * std::cos(t);
        if (i + 1 < n * n) g.data()[i + 1] = r * std::sin(t);
    }
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
    Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(n, n);
    const Eigen::MatrixXd r = qr.matrixQR().triangularView<Eigen::Upper>();
    for (std::int64_t j = 0; j < n; ++j)
        if (r(j, j) < 0) q.col(j) = -q.col(j);
    return q;
}

Rotation Rotation::random(RotationKind kind, std::int64_t n, std::uint64_t seed) {
    Rotation r;
    r.m_n = n;
    if (kind == RotationKind::Orthogonal) {
        r.m_q = randomOrthogonal(n, seed).cast<float>();
        return r;
    }
    r.m_plan.emplace(n);
    std::mt19937_64 rng(seed);
    r.m_signs.resize(n);
    for (std::int64_t i = 0; i < n; ++i) r.m_signs[i] = (rng() >> 63) ? -1.0f : 1.0f;
    return r;
}

Rotation Rotation::dense(Eigen::MatrixXf q) {
    if (q.rows() != q.cols()) throw Error("rotation: matrix is not square");
    Rotation r;
    r.m_n = q.rows();
    r.m_q = std::move(q);
    return r;
}

void Rotation::apply(float* x, std::int64_t rows, bool inverse) const {
    Eigen::Map<RotRowMatrix> m(x, rows, m_n);
    if (!m_plan) {
        if (inverse)
            m = (m * m_q.transpose()).eval();
        else
            m = (m * m_q).eval();
        return;
    }
    const float norm = static_cast<float>(m_plan->normalization());
    // Q = D H c: x Q = ((x o d) H) c;  x Q^T = (x H^T c) o d.
    if (!inverse) m.array().rowwise() *= m_signs.transpose().array();
    m_plan->apply(x, rows, inverse);
    m *= norm;
    if (inverse) m.array().rowwise() *= m_signs.transpose().array();
}

Eigen::MatrixXf Rotation::matrix() const {
    if (!m_plan) return m_q;
    RotRowMatrix id = RotRowMatrix::Identity(m_n, m_n);
    apply(id.data(), m_n);
    return id;
}

std::string Rotation::describe() const {
    if (m_plan) return "randomized hadamard (" + m_plan->describe() + ")";
    return "dense " + std::to_string(m_n);
}

} // namespace qs::core
