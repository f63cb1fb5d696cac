// SPDX-License-Identifier: MIT
#pragma once
// The one transpose of a row-major float matrix: between a Linear's [out, in] and GPT-2's Conv1D
// [in, out] storage, and wherever else a matrix is wanted the other way round.
#include <cstdint>
#include <span>
#include <vector>

namespace qs::core {

/// A row-major [rows, cols] matrix as [cols, rows].
inline std::vector<float> transposeMatrix(std::span<const float> x, std::int64_t rows, std::int64_t cols) {
    std::vector<float> t(x.size());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c)
            t[static_cast<std::size_t>(c * rows + r)] = x[static_cast<std::size_t>(r * cols + c)];
    return t;
}

} // namespace qs::core
