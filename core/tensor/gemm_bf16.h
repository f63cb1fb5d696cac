// SPDX-License-Identifier: MIT
#pragma once
// Products on bfloat16 operands with float32 sums: the forward pass's optional bf16 products
// (ForwardHooks::bf16Products), as PyTorch's bf16 autocast and llama.cpp's BF16 weights run them.
// C = bf16(A)·bf16(B)ᵀ (+ bias): B is rounded to bf16 (to nearest even) once, when packed; A as each
// product reads it. Where the processor has AMX-BF16 tiles (and the kernel lets this process use them)
// the tiles multiply and sum, 32 k at a time (inputs below float32's normal range count as zero
// there); elsewhere the float32 products of gemm.h run on the rounded operands. Either way each
// element depends only on its row of A and its column of B, never on m, the batch of rows it came in
// or the thread count: batches and threads agree bit for bit on one machine. The two paths sum in
// different orders and agree to float32 rounding, not bit for bit.
#include "tensor/gemm.h"

#include <cstdint>
#include <memory>

namespace qs::core {

/// Whether bf16 products run on AMX tiles in this process (checked, and permission asked, once).
bool bf16TilesAvailable();
/// Allows or holds back the tiles (tests compare both paths on one machine); returns the previous
/// setting. Panels keep the layout they were packed in.
bool allowBf16Tiles(bool allowed);

/// A weight B [n, k] rounded to bf16 and laid out for the products: in 16 x 32 tiles of k pairs for
/// AMX (panels of 32 columns, k padded with zeros to 32), else row-major [n, k].
class Bf16Panels {
public:
    /// Packs B [n, k] (a Linear's [out, in] weight).
    static Bf16Panels fromRows(ConstMatrixView b);
    /// Packs B [n, k] given as its transpose [k, n] (a GPT-2 Conv1D [in, out] weight).
    static Bf16Panels fromColumns(ConstMatrixView bT);
    /// The same from a compact weight (exactly its float32 values, then rounded).
    static Bf16Panels fromRows(const CompactMatrixView& b);
    static Bf16Panels fromColumns(const CompactMatrixView& bT);

    std::int64_t rows() const { return m_n; }
    std::int64_t cols() const { return m_k; }
    bool tiled() const { return m_tiled; }
    std::size_t bytes() const { return m_size * sizeof(std::uint16_t); }
    const std::uint16_t* data() const { return m_data.get(); }
    std::int64_t kBlocks() const { return (m_k + 31) / 32; }

private:
    struct Free {
        void operator()(std::uint16_t* p) const;
    };
    Bf16Panels(std::int64_t n, std::int64_t k, bool tiled);
    // Element (r, c) of B [n, k]: its place in data.
    std::size_t indexOf(std::int64_t r, std::int64_t c) const;
    template <class RowReader>
    static Bf16Panels pack(std::int64_t n, std::int64_t k, bool transposed, const RowReader& readRow);

    std::int64_t m_n = 0, m_k = 0;
    bool m_tiled = false;
    std::size_t m_size = 0;
    std::unique_ptr<std::uint16_t[], Free> m_data;
};

/// C = bf16(A)·Bᵀ (+ bias[col]): A [m, k], B the packed [n, k]. Throws Error when the shapes differ.
void gemmBf16(ConstMatrixView a, const Bf16Panels& b, MatrixView c, const float* bias = nullptr);

} // namespace qs::core
