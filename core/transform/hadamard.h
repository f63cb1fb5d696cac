// SPDX-License-Identifier: MIT
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// In place, unnormalized fast Walsh-Hadamard transform of n = 2^k values (x <- x H_n with the
/// Sylvester matrix H_1 = [1], H_2n = [[H, H], [H, -H]]), O(n log n). Throws Error when n is not a
/// power of two.
void fwht(float* x, std::int64_t n);

/// A Hadamard matrix H (entries +-1, H H^T = n I) of any order n that this builder can reach, applied
/// to row vectors in O(n (log n + m)):
///  - n = 2^a: Sylvester (plain FWHT);
///  - n = 2^a * m with m = q + 1, q a prime = 3 (mod 4) (Paley I: m = 4, 12, 20, 24, 32, 44, 48, ...,
///    e.g. 192 = 16 * 12, 448 = 2 * 224): H = H_{2^a} (x) P_m, the smallest such m is used;
///  - otherwise (e.g. 28 = 4 * 7): NOT a Hadamard matrix of order n but the block-diagonal
///    I_{n / 2^a} (x) H_{2^a} with 2^a the largest power of two dividing n (still orthogonal after
///    scaling by 2^{-a/2}; isFull() is false and normalization() says 2^{-a/2}).
class HadamardPlan {
public:
    /// Plan for order n >= 1.
    explicit HadamardPlan(std::int64_t n);

    std::int64_t size() const { return m_n; }
    /// True when the matrix is a full Hadamard matrix of order n (not the block-diagonal fallback).
    bool isFull() const { return m_full; }
    /// 1 / sqrt(row norm^2): multiply by this to make the matrix orthogonal.
    double normalization() const { return m_norm; }
    /// "sylvester 192", "sylvester 16 x paley 12", "block-diagonal 7 x sylvester 4".
    std::string describe() const;

    /// x <- x H (or x H^T) for `rows` contiguous row vectors of length n (unnormalized).
    void apply(float* x, std::int64_t rows, bool transpose = false) const;
    /// The explicit n x n matrix (for tests and for folding into weights).
    Eigen::MatrixXf matrix() const;

private:
    std::int64_t m_n = 0;
    std::int64_t m_pow2 = 1;  ///< Sylvester factor 2^a (outer for Paley, inner blocks for fallback)
    std::int64_t m_m = 1;     ///< Paley order m, or the number of blocks of the fallback
    bool m_full = true;
    bool m_paley = false;
    double m_norm = 1;
    Eigen::MatrixXf m_small;  ///< the Paley matrix P_m
};

/// The Paley I Hadamard matrix of order q + 1 for a prime q = 3 (mod 4). Throws Error otherwise.
Eigen::MatrixXf paleyHadamard(std::int64_t q);

} // namespace qs::core
