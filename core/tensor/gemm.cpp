// SPDX-License-Identifier: MIT
#include "tensor/gemm.h"

#include "base/error.h"

#include <algorithm>
#include <omp.h>
#include <string>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define QS_GEMM_AVX2 1
#else
#define QS_GEMM_AVX2 0
#endif

namespace qs::core {
namespace {

// Work is split into blocks of C (rows x columns), one task each: a multiple of both micro-tiles.
constexpr std::int64_t kMBlock = 96, kNBlock = 128;
// Below this many flops a product runs on the calling thread (waking threads costs more).
constexpr double kParallelMinFlops = 1 << 22;

// Runs block(m0, m1, n0, n1) over C's blocks, in parallel when worth it and not already inside a
// parallel region. Skips the blocks wholly above the diagonal for GemmShape::Lower.
template <class Block>
void forEachBlock(std::int64_t m, std::int64_t n, std::int64_t k, GemmShape shape, const Block& block) {
    const std::int64_t mBlocks = (m + kMBlock - 1) / kMBlock, nBlocks = (n + kNBlock - 1) / kNBlock;
    const std::int64_t tasks = mBlocks * nBlocks;
    const bool parallel = tasks > 1 && 2.0 * static_cast<double>(m) * static_cast<double>(n) *
                                               static_cast<double>(k) >= kParallelMinFlops &&
                          omp_get_max_threads() > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(dynamic) if (parallel)
    for (std::int64_t t = 0; t < tasks; ++t) {
        const std::int64_t m0 = t / nBlocks * kMBlock, n0 = t % nBlocks * kNBlock;
        const std::int64_t m1 = std::min(m, m0 + kMBlock), n1 = std::min(n, n0 + kNBlock);
        if (shape == GemmShape::Lower && n0 > m1 - 1) continue;
        block(m0, m1, n0, n1);
    }
}

#if QS_GEMM_AVX2

// Lane i set for i < count (count in 0..8).
__m256i laneMask(std::int64_t count) {
    alignas(32) static const std::int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - count));
}

// The four lane sums of x0..x3, each as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
__m128 sum4(__m256 x0, __m256 x1, __m256 x2, __m256 x3) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(x0, x1), _mm256_hadd_ps(x2, x3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// gemmNT micro-tile: 3 rows of A by 4 rows of B (12 accumulators + 3 A vectors + 1 B vector = 16
// registers), over k in [k0, k1). out[r] holds C(r, 0..3) for the block.
constexpr int kNtRows = 3, kNtCols = 4;
void ntTile(const float* const a[kNtRows], const float* const b[kNtCols], std::int64_t k0, std::int64_t k1,
            __m128 out[kNtRows]) {
    __m256 acc[kNtRows][kNtCols];
    for (auto& row : acc)
        for (auto& v : row) v = _mm256_setzero_ps();
    auto step = [&](auto load) {
        __m256 av[kNtRows];
#pragma GCC unroll 3
        for (int r = 0; r < kNtRows; ++r) av[r] = load(a[r]);
#pragma GCC unroll 4
        for (int j = 0; j < kNtCols; ++j) {
            const __m256 bv = load(b[j]);
#pragma GCC unroll 3
            for (int r = 0; r < kNtRows; ++r) acc[r][j] = _mm256_fmadd_ps(av[r], bv, acc[r][j]);
        }
    };
    std::int64_t kk = k0;
    for (; kk + 8 <= k1; kk += 8) step([kk](const float* p) { return _mm256_loadu_ps(p + kk); });
    if (kk < k1) {
        const __m256i mask = laneMask(k1 - kk);
        step([kk, mask](const float* p) { return _mm256_maskload_ps(p + kk, mask); });
    }
    for (int r = 0; r < kNtRows; ++r) out[r] = sum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
}

void ntBlock(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape,
             std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
    const std::int64_t k = a.cols;
    for (std::int64_t k0 = 0; k0 < k || k0 == 0; k0 += kGemmKBlock) {
        const std::int64_t k1 = std::min(k, k0 + kGemmKBlock);
        const bool first = k0 == 0, last = k1 == k;
        for (std::int64_t i = m0; i < m1; i += kNtRows) {
            const std::int64_t rows = std::min<std::int64_t>(kNtRows, m1 - i);
            const float* ar[kNtRows];
            for (int r = 0; r < kNtRows; ++r) ar[r] = a.data + (i + std::min<std::int64_t>(r, rows - 1)) * a.stride;
            // Lower: the tiles right of the last row's diagonal hold nothing wanted.
            const std::int64_t jEnd = shape == GemmShape::Lower ? std::min(n1, i + rows) : n1;
            for (std::int64_t j = n0; j < jEnd; j += kNtCols) {
                const std::int64_t cols = std::min<std::int64_t>(kNtCols, n1 - j);
                const float* br[kNtCols];
                for (int q = 0; q < kNtCols; ++q) br[q] = b.data + (j + std::min<std::int64_t>(q, cols - 1)) * b.stride;
                __m128 out[kNtRows];
                ntTile(ar, br, k0, k1, out);
                for (std::int64_t r = 0; r < rows; ++r) {
                    alignas(16) float s[4];
                    _mm_store_ps(s, out[r]);
                    float* dst = c.data + (i + r) * c.stride + j;
                    for (std::int64_t q = 0; q < cols; ++q) {
                        float v = first ? s[q] : dst[q] + s[q];
                        if (last && bias) v += bias[j + q];
                        dst[q] = v;
                    }
                }
            }
        }
    }
}

// gemmNN micro-tile: 6 rows of A by 16 columns of B (12 accumulators + 2 B vectors + 1 broadcast).
// Row r takes the terms k < kEnd[r]; `cols` < 16 masks the loads and stores.
constexpr int kNnRows = 6, kNnCols = 16;
void nnTile(const float* const a[kNnRows], const std::int64_t kEnd[kNnRows], const float* b, std::int64_t ldb,
            std::int64_t cols, const float* bias, float* const dst[kNnRows]) {
    const __m256i mask0 = laneMask(std::min<std::int64_t>(cols, 8));
    const __m256i mask1 = laneMask(std::max<std::int64_t>(cols - 8, 0));
    __m256 acc[kNnRows][2];
    for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
    auto step = [&](std::int64_t k, bool checkEnd) {
        const __m256 b0 = _mm256_maskload_ps(b + k * ldb, mask0);
        const __m256 b1 = _mm256_maskload_ps(b + k * ldb + 8, mask1);
#pragma GCC unroll 6
        for (int r = 0; r < kNnRows; ++r) {
            if (checkEnd && k >= kEnd[r]) continue;
            const __m256 av = _mm256_broadcast_ss(a[r] + k);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    };
    // Every row takes k < kAll; only the last few k (a triangular A's diagonal) ask which rows.
    const std::int64_t kAll = *std::min_element(kEnd, kEnd + kNnRows);
    const std::int64_t kAny = *std::max_element(kEnd, kEnd + kNnRows);
    for (std::int64_t k = 0; k < kAll; ++k) step(k, false);
    for (std::int64_t k = kAll; k < kAny; ++k) step(k, true);
    const __m256 bias0 = bias ? _mm256_maskload_ps(bias, mask0) : _mm256_setzero_ps();
    const __m256 bias1 = bias ? _mm256_maskload_ps(bias + 8, mask1) : _mm256_setzero_ps();
    for (int r = 0; r < kNnRows; ++r) {
        if (!dst[r]) continue;
        _mm256_maskstore_ps(dst[r], mask0, bias ? _mm256_add_ps(acc[r][0], bias0) : acc[r][0]);
        _mm256_maskstore_ps(dst[r] + 8, mask1, bias ? _mm256_add_ps(acc[r][1], bias1) : acc[r][1]);
    }
}

void nnBlock(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape,
             std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
    for (std::int64_t j = n0; j < n1; j += kNnCols) {
        const std::int64_t cols = std::min<std::int64_t>(kNnCols, n1 - j);
        for (std::int64_t i = m0; i < m1; i += kNnRows) {
            const float* ar[kNnRows];
            std::int64_t kEnd[kNnRows];
            float* dst[kNnRows];
            for (int r = 0; r < kNnRows; ++r) {
                const bool valid = i + r < m1;
                ar[r] = a.data + (valid ? i + r : i) * a.stride;
                kEnd[r] = !valid ? 0 : shape == GemmShape::Lower ? std::min(a.cols, i + r + 1) : a.cols;
                dst[r] = valid ? c.data + (i + r) * c.stride + j : nullptr;
            }
            nnTile(ar, kEnd, b.data + j, b.stride, cols, bias ? bias + j : nullptr, dst);
        }
    }
}

#else // portable twins: the same element order is not promised here, only the invariances

void ntBlock(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape,
             std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
    for (std::int64_t i = m0; i < m1; ++i)
        for (std::int64_t j = n0; j < (shape == GemmShape::Lower ? std::min(n1, i + 1) : n1); ++j) {
            float s = 0;
            for (std::int64_t q = 0; q < a.cols; ++q) s += a.data[i * a.stride + q] * b.data[j * b.stride + q];
            c.data[i * c.stride + j] = bias ? s + bias[j] : s;
        }
}

void nnBlock(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape,
             std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
    for (std::int64_t i = m0; i < m1; ++i) {
        const std::int64_t kEnd = shape == GemmShape::Lower ? std::min(a.cols, i + 1) : a.cols;
        for (std::int64_t j = n0; j < n1; ++j) {
            float s = 0;
            for (std::int64_t q = 0; q < kEnd; ++q) s += a.data[i * a.stride + q] * b.data[q * b.stride + j];
            c.data[i * c.stride + j] = bias ? s + bias[j] : s;
        }
    }
}

#endif

template <class View>
std::string shapeText(const View& v) {
    return std::to_string(v.rows) + "x" + std::to_string(v.cols);
}

} // namespace

void gemmNT(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape) {
    if (b.cols != a.cols || c.rows != a.rows || c.cols != b.rows)
        throw Error("gemmNT: shapes do not agree (" + shapeText(a) + " times the transpose of " + shapeText(b) +
                    " into " + shapeText(c) + ")");
    forEachBlock(a.rows, b.rows, a.cols, shape, [&](std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
        ntBlock(a, b, c, bias, shape, m0, m1, n0, n1);
    });
}

void gemmNN(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape) {
    if (b.rows != a.cols || c.rows != a.rows || c.cols != b.cols)
        throw Error("gemmNN: shapes do not agree (" + shapeText(a) + " times " + shapeText(b) + " into " +
                    shapeText(c) + ")");
    forEachBlock(a.rows, b.cols, a.cols, shape, [&](std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
        nnBlock(a, b, c, bias, shape, m0, m1, n0, n1);
    });
}

} // namespace qs::core
