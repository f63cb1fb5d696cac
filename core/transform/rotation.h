// SPDX-License-Identifier: MIT
#pragma once
#include "transform/hadamard.h"

#include <Eigen/Core>
#include <cstdint>
#include <optional>
#include <string>

namespace qs::core {

/// Row-major float32 matrix (the layout of activations [tokens, features]).
using RotRowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// How a random orthogonal basis change is drawn. Persisted in recipes by name: append only.
enum class RotationKind { Hadamard, Orthogonal };

/// "hadamard" / "orthogonal"; parseRotationKind throws Error naming the allowed values.
std::string rotationKindName(RotationKind k);
RotationKind parseRotationKind(const std::string& name);

/// n x n orthogonal matrix from the QR decomposition of a seeded standard Gaussian matrix, with the
/// signs of R's diagonal moved into Q (so Q is Haar-distributed). Same seed, same matrix on every
/// platform (own Box-Muller over mt19937_64).
Eigen::MatrixXd randomOrthogonal(std::int64_t n, std::uint64_t seed);

/// An orthogonal Q (n x n) applied to row vectors: x <- x Q. Randomized Hadamard Q = D H / sqrt(n)
/// (D = diag of seeded random signs, H from HadamardPlan, applied by FWHT in O(n log n)) or a dense
/// matrix (random orthogonal, PCA bases, products of both).
class Rotation {
public:
    /// Randomized Hadamard or random orthogonal of order n.
    static Rotation random(RotationKind kind, std::int64_t n, std::uint64_t seed);
    /// A dense orthogonal matrix (columns = the new basis vectors).
    static Rotation dense(Eigen::MatrixXf q);

    std::int64_t size() const { return m_n; }
    /// x <- x Q (inverse: x <- x Q^T) for `rows` contiguous rows of n values.
    void apply(float* x, std::int64_t rows, bool inverse = false) const;
    /// The explicit matrix Q.
    Eigen::MatrixXf matrix() const;
    /// "randomized hadamard (sylvester 16 x paley 12)", "dense 192".
    std::string describe() const;
    /// True when applied by FWHT (no dense matrix stored).
    bool isHadamard() const { return m_plan.has_value(); }

private:
    std::int64_t m_n = 0;
    std::optional<HadamardPlan> m_plan;
    Eigen::VectorXf m_signs; ///< Hadamard: D
    Eigen::MatrixXf m_q;     ///< dense
};

} // namespace qs::core
