// SPDX-License-Identifier: MIT
// Decode-time GEMV kernels y = W x over the stored weight layouts the decode cost model prices (fp16,
// INT4 with fp16 group scales, GPTVQ's vector-quantized codes), so that their cost is measured on this
// CPU rather than only modelled (issue 15, "Measured, not only modelled"; bench/bench_gemv.cpp).
//
// Every kernel sums each output row in one fixed order that does not depend on the thread count: column
// c of a row goes to partial sum c mod 32 (zero-padded columns to a multiple of 32 add exact zeros); the
// 32 partials are combined as lanes p[l] = (p[l] + p[l+8]) + (p[l+16] + p[l+24]) for l < 8, then
// ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)). Products are rounded before they are added (no FMA).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace qs::core {

/// W in IEEE binary16, row-major; each row zero-padded to `stride` columns (a multiple of 32).
struct GemvFp16Weight {
    std::int64_t rows = 0, cols = 0, stride = 0;
    std::vector<std::uint16_t> data; ///< [rows, stride]
    /// Bytes a decode step reads (padding included).
    std::int64_t storedBytes() const;
};

/// INT4, two codes per byte, asymmetric per group of `groupSize` columns (a multiple of 32):
/// w = scale * (q - zero) with q in 0..15 and fp16 scale and zero. Within each 32 columns, byte b holds
/// column b in its low nibble and column b + 16 in its high nibble (llama.cpp's q4 order: no shuffles
/// to unpack). Rows are zero-padded to whole groups.
struct GemvInt4Weight {
    std::int64_t rows = 0, cols = 0, groups = 0; ///< groups per row
    int groupSize = 128;
    std::vector<std::uint8_t> codes;          ///< [rows, groups * groupSize / 2]
    std::vector<std::uint16_t> scales, zeros; ///< fp16 [rows, groups]
    std::int64_t storedBytes() const;
};

/// GPTVQ's codebook geometry (quant/gptvq.h, GptvqLayout): vectors are `dim` consecutive columns of a
/// row, indices have bitsPerDim * dim bits (2^that entries), and one codebook serves each tile of
/// `rowsPerCodebook` rows x `colsPerCodebook` columns. colsPerCodebook must be a multiple of 32, or
/// cover all columns (GptvqLayout::colsPerCodebook = min(groupCols, cols)).
struct GemvVqShape {
    int dim = 2;        ///< 1, 2 or 4
    int bitsPerDim = 2; ///< GPTVQ's `bits`; bitsPerDim * dim <= 12
    std::int64_t colsPerCodebook = 256, rowsPerCodebook = 16;
    bool fp16Codebook = true; ///< entries stored as fp16 (else fp32)

    int indexBits() const { return bitsPerDim * dim; }
    std::int64_t entries() const { return std::int64_t{1} << indexBits(); }
};

/// A VQ-coded weight. Indices are little-endian bit strings, 32 columns (4 * bitsPerDim bytes) at a time,
/// zero-padded to whole 32-column steps per column group, and stored tile by tile ([row block][column
/// group][row of block][its indices]) so a kernel streams them in order with one codebook per tile.
struct GemvVqWeight {
    std::int64_t rows = 0, cols = 0;
    GemvVqShape shape;
    std::int64_t colGroups = 0, rowBlocks = 0;
    std::int64_t rowBytes = 0;       ///< index bytes of one row (all its groups)
    std::vector<std::uint8_t> indices; ///< tiles as above, then 16 bytes of slack for wide loads
    std::vector<std::uint16_t> codebook16; ///< [rowBlocks, colGroups, entries, dim] when fp16Codebook
    std::vector<float> codebook32;         ///< the same when not
    std::int64_t storedBytes() const;      ///< indices + codebooks, the slack not counted
};

/// Packers (for tests and benchmarks). packFp16 rounds to nearest even.
GemvFp16Weight packFp16(const float* w, std::int64_t rows, std::int64_t cols);
/// Min-max asymmetric RTN per group: scale = (max - min) / 15 (1 for a constant group), zero = round(-min / scale),
/// both rounded to fp16, then q = clamp(round(w / scale) + zero, 0, 15).
GemvInt4Weight packInt4(const float* w, std::int64_t rows, std::int64_t cols, int groupSize);
/// From GPTVQ's result arrays (GptvqResult): codebooks [rowBlocks * colGroups, entries, dim] (row block
/// major) and assign [rows, ceil(cols / dim)]; a short last vector uses its first entries' components.
GemvVqWeight packVq(std::int64_t rows, std::int64_t cols, const GemvVqShape& shape, const float* codebooks,
                    const std::int32_t* assign);
/// A cheap stand-in for GPTVQ with the same storage: each tile's codebook is the product grid of
/// 2^bitsPerDim evenly spaced levels per dimension over the tile's range, each vector takes the nearest
/// level per dimension. Not an accuracy method: it gives benchmarks and tests a valid VQ weight quickly.
GemvVqWeight quantizeVq(const float* w, std::int64_t rows, std::int64_t cols, const GemvVqShape& shape);

/// The weights a layout holds, as float [rows, cols].
std::vector<float> dequantize(const GemvFp16Weight& w);
std::vector<float> dequantize(const GemvInt4Weight& w);
std::vector<float> dequantize(const GemvVqWeight& w);

/// y [rows] = W x (x [cols]) on `threads` OpenMP threads (<= 0: OpenMP's default); the same bits for any
/// thread count. fp16 and VQ weights are converted / looked up exactly, so they give the bits of
/// gemvF32 on their dequantized weights; INT4 sums scale * (sum q x - zero * sum x) per group instead.
void gemvF32(const float* w, std::int64_t rows, std::int64_t cols, const float* x, float* y, int threads);
void gemvFp16(const GemvFp16Weight& w, const float* x, float* y, int threads);
void gemvInt4(const GemvInt4Weight& w, const float* x, float* y, int threads);
void gemvVq(const GemvVqWeight& w, const float* x, float* y, int threads);

/// The plain reference: each row summed left to right in float, one thread.
void gemvReference(const float* w, std::int64_t rows, std::int64_t cols, const float* x, float* y);

/// Default kernel efficiencies for the decode cost model: weight bytes per second each layout's GEMV
/// reaches, as a fraction of the memcpy bandwidth (bytes copied per second) at the same thread count,
/// measured out of cache (weights rotated over 256 MiB) at 11008 x 4096, 2 threads (both cores).
/// Keys: "fp32", "fp16", "int4_g32", "int4_g128", "vq_d<dim>_b<bitsPerDim>" (fp16 codebooks, GPTVQ
/// tiles of 256 columns). Above 1 means the read-only GEMV streams faster than memcpy copies.
/// Machine, date and command: see the definition in gemv_kernels.cpp.
nlohmann::json measuredDecodeEfficiency();

} // namespace qs::core
