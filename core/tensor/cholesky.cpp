// SPDX-License-Identifier: MIT
#include "tensor/cholesky.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qs::core {
namespace {

// Diagonal blocks of this many columns are factored and inverted one element at a time; everything
// else is products.
constexpr std::int64_t kBlock = 128;

float& at(MatrixView m, std::int64_t r, std::int64_t c) { return m.data[r * m.stride + c]; }
float at(ConstMatrixView m, std::int64_t r, std::int64_t c) { return m.data[r * m.stride + c]; }
MatrixView sub(MatrixView m, std::int64_t r, std::int64_t c, std::int64_t rows, std::int64_t cols) {
    return {m.data + r * m.stride + c, rows, cols, m.stride};
}
ConstMatrixView sub(ConstMatrixView m, std::int64_t r, std::int64_t c, std::int64_t rows, std::int64_t cols) {
    return {m.data + r * m.stride + c, rows, cols, m.stride};
}

// The unblocked factorisation of a small diagonal block (sums in double).
bool choleskySmall(MatrixView a) {
    const std::int64_t n = a.rows;
    for (std::int64_t j = 0; j < n; ++j) {
        double d = at(a, j, j);
        for (std::int64_t l = 0; l < j; ++l) d -= double(at(a, j, l)) * at(a, j, l);
        if (!(d > 0) || !std::isfinite(d)) return false;
        const double pivot = std::sqrt(d);
        at(a, j, j) = static_cast<float>(pivot);
        for (std::int64_t i = j + 1; i < n; ++i) {
            double s = at(a, i, j);
            for (std::int64_t l = 0; l < j; ++l) s -= double(at(a, i, l)) * at(a, j, l);
            at(a, i, j) = static_cast<float>(s / pivot);
        }
    }
    return true;
}

// The inverse of a small lower-triangular L (dense n x n, zeros above the diagonal; sums in double).
std::vector<float> invertLowerSmall(ConstMatrixView l) {
    const std::int64_t n = l.rows;
    std::vector<float> r(static_cast<std::size_t>(n * n), 0.0f);
    for (std::int64_t j = 0; j < n; ++j) {
        r[static_cast<std::size_t>(j * n + j)] = 1.0f / at(l, j, j);
        for (std::int64_t i = j + 1; i < n; ++i) {
            double s = 0;
            for (std::int64_t k = j; k < i; ++k) s += double(at(l, i, k)) * r[static_cast<std::size_t>(k * n + j)];
            r[static_cast<std::size_t>(i * n + j)] = static_cast<float>(-s / at(l, i, i));
        }
    }
    return r;
}

} // namespace

bool choleskyLower(MatrixView a) {
    if (a.rows != a.cols) throw Error("choleskyLower: the matrix is " + std::to_string(a.rows) + "x" + std::to_string(a.cols));
    const std::int64_t n = a.rows;
    std::vector<float> panel, negPanel;
    for (std::int64_t k0 = 0; k0 < n; k0 += kBlock) {
        const std::int64_t kb = std::min(kBlock, n - k0), rest = n - k0 - kb;
        const MatrixView diag = sub(a, k0, k0, kb, kb);
        if (!choleskySmall(diag)) return false;
        if (rest == 0) break;
        // The panel below: P = A21·L11⁻ᵀ.
        std::vector<float> l11(static_cast<std::size_t>(kb * kb), 0.0f);
        for (std::int64_t i = 0; i < kb; ++i)
            for (std::int64_t j = 0; j <= i; ++j) l11[static_cast<std::size_t>(i * kb + j)] = at(diag, i, j);
        const std::vector<float> inv = invertLowerSmall({l11.data(), kb, kb, kb});
        const MatrixView a21 = sub(a, k0 + kb, k0, rest, kb);
        panel.resize(static_cast<std::size_t>(rest * kb));
        gemmNT(a21, {inv.data(), kb, kb, kb}, {panel.data(), rest, kb, kb});
        negPanel.resize(panel.size());
        for (std::int64_t r = 0; r < rest; ++r)
            for (std::int64_t c = 0; c < kb; ++c) {
                const float v = panel[static_cast<std::size_t>(r * kb + c)];
                at(a21, r, c) = v;
                negPanel[static_cast<std::size_t>(r * kb + c)] = -v;
            }
        // The trailing matrix: A22 -= P·Pᵀ, its lower triangle.
        gemmNTAccumulate({negPanel.data(), rest, kb, kb}, {panel.data(), rest, kb, kb}, sub(a, k0 + kb, k0 + kb, rest, rest),
                         GemmShape::Lower);
    }
    return true;
}

void invertUpper(ConstMatrixView v, MatrixView r) {
    const std::int64_t n = v.rows;
    if (n <= kBlock) {
        for (std::int64_t j = 0; j < n; ++j) {
            for (std::int64_t i = j + 1; i < n; ++i) at(r, i, j) = 0.0f;
            at(r, j, j) = 1.0f / at(v, j, j);
            for (std::int64_t i = j - 1; i >= 0; --i) {
                double s = 0;
                for (std::int64_t k = i + 1; k <= j; ++k) s += double(at(v, i, k)) * at(r, k, j);
                at(r, i, j) = static_cast<float>(-s / at(v, i, i));
            }
        }
        return;
    }
    // [A B; 0 C]⁻¹ = [A⁻¹, −A⁻¹·B·C⁻¹; 0, C⁻¹]: the triangles as dense products (their zeros included).
    const std::int64_t h = n / 2, m = n - h;
    invertUpper(sub(v, 0, 0, h, h), sub(r, 0, 0, h, h));
    invertUpper(sub(v, h, h, m, m), sub(r, h, h, m, m));
    for (std::int64_t i = h; i < n; ++i)
        for (std::int64_t j = 0; j < h; ++j) at(r, i, j) = 0.0f;
    std::vector<float> t(static_cast<std::size_t>(h * m));
    gemmNN(sub(ConstMatrixView(r), 0, 0, h, h), sub(v, 0, h, h, m), {t.data(), h, m, m});
    for (float& x : t) x = -x;
    gemmNN({t.data(), h, m, m}, sub(ConstMatrixView(r), h, h, m, m), sub(r, 0, h, h, m));
}

} // namespace qs::core
