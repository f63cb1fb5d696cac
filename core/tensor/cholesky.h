// SPDX-License-Identifier: MIT
#pragma once
// Blocked float32 Cholesky factorisation and triangular inverse on row-major matrices, their O(n³)
// work in the matrix products of tensor/gemm.h (GPTQ's inverse-Hessian factor: at 4096 columns these
// products are most of its time). Deterministic at any thread count, as the products are.
#include "tensor/gemm.h"

namespace qs::core {

/// A = L·Lᵀ in place: on return A's lower triangle (diagonal included) holds L; what lies above the
/// diagonal is unspecified. Reads only the lower triangle. Returns false, A unspecified, when A is
/// not positive definite (a pivot <= 0 or not finite).
bool choleskyLower(MatrixView a);

/// R = V⁻¹ for an upper-triangular V (its strict lower part is not read); R is upper triangular with
/// zeros below the diagonal. R must not overlap V.
void invertUpper(ConstMatrixView v, MatrixView r);

} // namespace qs::core
