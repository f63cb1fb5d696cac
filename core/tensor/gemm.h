// SPDX-License-Identifier: MIT
#pragma once
// Float32 matrix products for the forward pass, on row-major operands as the model holds them (no
// packed copies: a weight is read where it lies). Each element of C is one fixed sequence of
// operations that depends only on its row of A, its column of B and k, never on m, n, the tile it
// falls in or the thread count: a batch of windows gives the numbers each window gives alone, and
// 1 and 2 threads agree bit for bit.
#include <cstdint>

namespace qs::core {

/// A row-major matrix operand: element (r, c) at data[r * stride + c].
struct ConstMatrixView {
    const float* data = nullptr;
    std::int64_t rows = 0, cols = 0, stride = 0;
};
struct MatrixView {
    float* data = nullptr;
    std::int64_t rows = 0, cols = 0, stride = 0;
    operator ConstMatrixView() const { return {data, rows, cols, stride}; }
};

/// Which elements of C a product must compute.
enum class GemmShape {
    Full,
    Lower, ///< only column <= row (causal attention scores); the others are left unspecified
};

/// C = A·Bᵀ (+ bias[col]): A [m, k], B [n, k]: both run along k, as activations and a Linear's
/// [out, in] weight do. Per element: 8-lane FMA partial sums over blocks of kGemmKBlock, each block
/// reduced in a fixed tree and added in order, then the bias.
void gemmNT(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias = nullptr,
            GemmShape shape = GemmShape::Full);

/// C = A·B (+ bias[col]): A [m, k], B [k, n] running along n (a GPT-2 Conv1D [in, out] weight;
/// values under attention probabilities). Per element: one FMA per k in order, then the bias.
/// With GemmShape::Lower, A is lower triangular (A(r, j) = 0 for j > r): those terms are skipped,
/// which leaves every element as it would be with them (adding an exact zero product changes nothing).
void gemmNN(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias = nullptr,
            GemmShape shape = GemmShape::Full);

/// The K block of gemmNT: a constant, so that the order of additions never depends on the shapes.
inline constexpr std::int64_t kGemmKBlock = 512;

} // namespace qs::core
