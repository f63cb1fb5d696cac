// SPDX-License-Identifier: MIT
#include "transform/hadamard.h"

#include "base/error.h"

#include <cmath>
#include <vector>

namespace qs::core {
namespace {

bool isPowerOfTwo(std::int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

bool isPrime(std::int64_t q) {
    if (q < 2) return false;
    for (std::int64_t d = 2; d * d <= q; ++d)
        if (q % d == 0) return false;
    return true;
}

// Orders m = q + 1 with q prime = 3 mod 4 (Paley I), plus the trivial 1 and 2 (Sylvester).
bool paleyOrder(std::int64_t m) { return m >= 4 && isPrime(m - 1) && (m - 1) % 4 == 3; }

} // namespace

void fwht(float* x, std::int64_t n) {
    if (!isPowerOfTwo(n)) throw Error("fwht: size " + std::to_string(n) + " is not a power of two");
    for (std::int64_t h = 1; h < n; h *= 2)
        for (std::int64_t i = 0; i < n; i += 2 * h)
            for (std::int64_t j = i; j < i + h; ++j) {
                const float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

Eigen::MatrixXf paleyHadamard(std::int64_t q) {
    if (!isPrime(q) || q % 4 != 3)
        throw Error("Paley I construction needs a prime q = 3 (mod 4), got " + std::to_string(q));
    // Quadratic character chi(a) of GF(q); Q[i][j] = chi(j - i) is skew-symmetric for q = 3 mod 4.
    std::vector<int> chi(static_cast<std::size_t>(q), -1);
    chi[0] = 0;
    for (std::int64_t a = 1; a < q; ++a) chi[static_cast<std::size_t>(a * a % q)] = 1;
    // S = [[0, 1^T], [-1, Q]] is skew-symmetric; H = I + S is Hadamard of order q + 1.
    const std::int64_t m = q + 1;
    Eigen::MatrixXf h = Eigen::MatrixXf::Identity(m, m);
    for (std::int64_t j = 1; j < m; ++j) {
        h(0, j) += 1.0f;
        h(j, 0) -= 1.0f;
    }
    for (std::int64_t i = 1; i < m; ++i)
        for (std::int64_t j = 1; j < m; ++j)
            h(i, j) += static_cast<float>(chi[static_cast<std::size_t>(((j - i) % q + q) % q)]);
    return h;
}

HadamardPlan::HadamardPlan(std::int64_t n) : m_n(n) {
    if (n < 1) throw Error("Hadamard: order must be >= 1, got " + std::to_string(n));
    std::int64_t odd = n;
    while (odd % 2 == 0) odd /= 2;
    const std::int64_t pow2 = n / odd;
    if (odd == 1) {
        m_pow2 = n;
    } else {
        // Smallest Paley factor m = odd * 2^j dividing n.
        for (std::int64_t m = odd; m <= n; m *= 2)
            if (paleyOrder(m)) {
                m_paley = true;
                m_m = m;
                m_pow2 = n / m;
                m_small = paleyHadamard(m - 1);
                break;
            }
        if (!m_paley) {
            m_full = false;
            m_pow2 = pow2;
            m_m = odd;
        }
    }
    const double rowNorm2 = m_paley ? static_cast<double>(n) : static_cast<double>(m_pow2);
    m_norm = 1.0 / std::sqrt(rowNorm2);
}

std::string HadamardPlan::describe() const {
    if (m_paley)
        return (m_pow2 > 1 ? "sylvester " + std::to_string(m_pow2) + " x " : std::string()) + "paley " +
               std::to_string(m_m);
    if (!m_full)
        return "block-diagonal " + std::to_string(m_m) + " x sylvester " + std::to_string(m_pow2);
    return "sylvester " + std::to_string(m_n);
}

void HadamardPlan::apply(float* x, std::int64_t rows, bool transpose) const {
    // Sylvester matrices are symmetric, so only the Paley factor cares about `transpose`.
    for (std::int64_t r = 0; r < rows; ++r) {
        float* v = x + r * m_n;
        if (!m_paley) {
            // Sylvester (m_m == 1) or block-diagonal: FWHT on each contiguous block of 2^a.
            for (std::int64_t b = 0; b < m_n; b += m_pow2) fwht(v + b, m_pow2);
            continue;
        }
        // Index i = p * m + s: (x (A (x) B))[p m + s] = sum x[p' m + s'] A[p', p] B[s', s].
        Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> blocks(v, m_pow2, m_m);
        if (transpose)
            blocks = (blocks * m_small.transpose()).eval();
        else
            blocks = (blocks * m_small).eval();
        if (m_pow2 > 1) {
            std::vector<float> col(static_cast<std::size_t>(m_pow2));
            for (std::int64_t s = 0; s < m_m; ++s) {
                for (std::int64_t p = 0; p < m_pow2; ++p) col[static_cast<std::size_t>(p)] = blocks(p, s);
                fwht(col.data(), m_pow2);
                for (std::int64_t p = 0; p < m_pow2; ++p) blocks(p, s) = col[static_cast<std::size_t>(p)];
            }
        }
    }
}

Eigen::MatrixXf HadamardPlan::matrix() const {
    // Row i of H is e_i H.
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> id =
        Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>::Identity(m_n, m_n);
    apply(id.data(), m_n);
    return id;
}

} // namespace qs::core
