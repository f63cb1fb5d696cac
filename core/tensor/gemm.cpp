// SPDX-License-Identifier: MIT
#include "tensor/gemm.h"

#include "tensor/avx512.h"
#include "tensor/compact_matrix.h"

#include "base/error.h"
#include "tensor/half.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <omp.h>
#include <string>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define QS_GEMM_AVX2 1
#else
#define QS_GEMM_AVX2 0
#endif

namespace qs::core {
namespace {

// Work is split into column blocks of C (B packed once per block), and into row chunks only as far
// as the threads need tasks; inside a task, rows go kMBlock at a time (A's block stays in L2). Column
// blocks are kNBlock wide (each packing of A serves more panels), kNBlockMin where the threads need
// more tasks than the rows give.
constexpr std::int64_t kMBlock = 192, kNBlock = 256, kNBlockMin = 128;
// Below this many flops a product runs on the calling thread (waking threads costs more).
constexpr double kParallelMinFlops = 1 << 22;
// Rows of the AVX-512 tile; row chunks are whole such tiles (two 6-row tiles on AVX2).
constexpr int kMrWide = 12;

// Runs block(m0, m1, n0, n1) over C's tasks, in parallel when worth it and not already inside a
// parallel region. Skips the tasks wholly above the diagonal for GemmShape::Lower.
template <class Block>
void forEachBlock(std::int64_t m, std::int64_t n, std::int64_t k, GemmShape shape, const Block& block) {
    const bool parallel = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >=
                                  kParallelMinFlops &&
                          omp_get_max_threads() > 1 && !omp_in_parallel();
    // Four tasks per thread balance the dynamic schedule; more rows per task share B's packing.
    const std::int64_t wanted = parallel ? 4 * omp_get_max_threads() : 1;
    const std::int64_t mChunksMax = std::max<std::int64_t>(1, (m + kMBlock - 1) / kMBlock);
    std::int64_t nBlock = kNBlock;
    if ((n + nBlock - 1) / nBlock * mChunksMax < wanted) nBlock = kNBlockMin;
    const std::int64_t nBlocks = (n + nBlock - 1) / nBlock;
    const std::int64_t mChunks = std::clamp<std::int64_t>((wanted + nBlocks - 1) / nBlocks, 1, mChunksMax);
    const std::int64_t perChunk = (m + mChunks - 1) / mChunks;
    const std::int64_t mChunk = std::max<std::int64_t>(1, (perChunk + kMrWide - 1) / kMrWide * kMrWide);
    const std::int64_t tasks = (m + mChunk - 1) / mChunk * nBlocks;
#pragma omp parallel for schedule(dynamic) if (parallel && tasks > 1)
    for (std::int64_t t = 0; t < tasks; ++t) {
        const std::int64_t m0 = t / nBlocks * mChunk, n0 = t % nBlocks * nBlock;
        const std::int64_t m1 = std::min(m, m0 + mChunk), n1 = std::min(n, n0 + nBlock);
        if (shape == GemmShape::Lower && n0 > m1 - 1) continue;
        block(m0, m1, n0, n1);
    }
}

// The k block of every element's sequence (gemm.h); a 16-column panel of it (16 KB) and a tile's
// rows of A (6 KB) stay in L1 together.
constexpr std::int64_t kKBlock = 256;

// What a product is: C = op(A)·op(B) (+ bias), with K terms per element.
struct Product {
    ConstMatrixView a, b;
    MatrixView c;
    const float* bias;
    std::int64_t k;
    bool aTransposed;   // TN: A is [k, m]
    bool bTransposed;   // NT: B is [n, k]
    bool lowerC = false; // NT Lower: only C's lower triangle is wanted
    bool lowerA = false; // NN Lower: A(r, k) = 0 for k > r, and is not read
    bool accumulate = false; // C += op(A)·op(B): the running sum starts at C
    const CompactMatrixView* bCompact = nullptr; // B held compactly (b has its shape, no data)
};

// B's element at row r, column c (of B as stored), as float32.
float bAt(const Product& p, std::int64_t r, std::int64_t c) {
    return p.bCompact ? p.bCompact->at(r, c) : p.b.data[r * p.b.stride + c];
}

#if QS_GEMM_AVX2

// Lane i set for i < count (count in 0..8).
__m256i laneMask(std::int64_t count) {
    alignas(32) static const std::int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - count));
}

// An 8x8 block of rows of `src` (stride ss) as columns of `dst` (stride ds), in registers.
void transpose8x8(const float* src, std::int64_t ss, float* dst, std::int64_t ds) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ss);
    __m256 t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + i * ds, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ds, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

// A 4x8 block of rows of `src` (stride ss) as columns of `dst` (stride ds).
void transpose4x8(const float* src, std::int64_t ss, float* dst, std::int64_t ds) {
    for (int half = 0; half < 2; ++half) {
        __m128 r0 = _mm_loadu_ps(src + 4 * half), r1 = _mm_loadu_ps(src + ss + 4 * half);
        __m128 r2 = _mm_loadu_ps(src + 2 * ss + 4 * half), r3 = _mm_loadu_ps(src + 3 * ss + 4 * half);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        float* d = dst + 4 * half * ds;
        _mm_storeu_ps(d, r0);
        _mm_storeu_ps(d + ds, r1);
        _mm_storeu_ps(d + 2 * ds, r2);
        _mm_storeu_ps(d + 3 * ds, r3);
    }
}

// `tiles` tiles of 12 rows of A from row i, over k in [k0, k0 + kc), each as [kc][12]: a k's 12
// values side by side, so the tile reads A as one stream, from L1, whatever A's layout and stride.
const float* packA(const Product& p, std::int64_t i, std::int64_t tiles, std::int64_t k0, std::int64_t kc) {
    thread_local std::vector<float> buffer;
    buffer.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, tiles * kc * kMrWide)));
    if (kc == 0) return buffer.data(); // no terms: A may be empty, its data null
    const std::int64_t stride = p.a.stride;
    for (std::int64_t t = 0; t < tiles; ++t) {
        float* dst = buffer.data() + t * kc * kMrWide;
        const std::int64_t row = i + t * kMrWide;
        if (p.aTransposed) { // A is [k, m]: a tile's rows lie side by side
            for (std::int64_t kk = 0; kk < kc; ++kk)
                std::copy_n(p.a.data + (k0 + kk) * stride + row, kMrWide, dst + kk * kMrWide);
            continue;
        }
        const float* src = p.a.data + row * stride + k0;
        std::int64_t kk = 0;
        for (; kk + 8 <= kc; kk += 8) {
            transpose8x8(src + kk, stride, dst + kk * kMrWide, kMrWide);
            transpose4x8(src + 8 * stride + kk, stride, dst + kk * kMrWide + 8, kMrWide);
        }
        for (; kk < kc; ++kk)
            for (int r = 0; r < kMrWide; ++r) dst[kk * kMrWide + r] = src[r * stride + kk];
    }
    return buffer.data();
}

// The packed-panel kernel behind all three products. B is copied, one k block at a time, into
// panels of 16 columns ([k][16], zero padded), so that the micro-tile reads it contiguously whatever
// its layout; A is read where it lies (packed by packA for the 12-row tile), one broadcast element per
// row and k. Every element of C is, for each k block in order, a sum from 0 with one FMA per k in
// order added to the running sum, then the bias: the same sequence in any tile, task or thread, as the
// k blocks are a constant.
constexpr int kMr = 6, kNr = 16;

// n 16-bit floats of B from `src` as float32 into dst (exact conversions).
void halfToFloat(const std::uint16_t* src, std::int64_t n, bool bf16, float* dst) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        const __m256 f = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
        _mm256_storeu_ps(dst + i, f);
    }
    for (; i < n; ++i) dst[i] = bf16 ? bf16ToF32(src[i]) : f16ToF32(src[i]);
}

// Eight one-byte codes from `bytes`, or eight nibbles from four bytes (low nibble first), as int32
// lanes: signed (ScaledInt8) or not (a code book's indices).
__m256i eightCodes(const std::uint8_t* bytes, bool nibbles, bool isSigned) {
    if (!nibbles) {
        std::int64_t eight;
        std::memcpy(&eight, bytes, 8);
        const __m128i b = _mm_cvtsi64_si128(eight);
        return isSigned ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
    }
    std::int32_t four;
    std::memcpy(&four, bytes, 4);
    const __m128i b = _mm_cvtsi32_si128(four);
    const __m256i pairs = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(b, b)); // byte k in lanes 2k, 2k+1
    // Lane 2k keeps its byte's low nibble, lane 2k+1 its high one, moved to the top and back down.
    const __m256i up = _mm256_sllv_epi32(pairs, _mm256_setr_epi32(28, 24, 28, 24, 28, 24, 28, 24));
    return isSigned ? _mm256_srai_epi32(up, 28) : _mm256_srli_epi32(up, 28);
}

// Elements (r, c..c+n) of a compact matrix as float32 into dst: 8 at a time where they share a
// scale (runs along the row) and, for nibbles, start on a byte; one at a time otherwise, with the
// same single rounding.
void compactToFloat(const CompactMatrixView& v, std::int64_t r, std::int64_t c, std::int64_t n, float* dst) {
    const std::int64_t at = r * v.stride + c;
    if (v.kind == CompactMatrixView::Kind::Bf16 || v.kind == CompactMatrixView::Kind::F16) {
        halfToFloat(static_cast<const std::uint16_t*>(v.data) + at, n, v.kind == CompactMatrixView::Kind::Bf16, dst);
        return;
    }
    const bool codeBook = v.kind == CompactMatrixView::Kind::CodeBook;
    const bool miniFloat = v.kind == CompactMatrixView::Kind::ScaledMiniFloat;
    const auto* bytes = static_cast<const std::uint8_t*>(v.data);
    const __m256 low = codeBook ? _mm256_loadu_ps(v.table) : _mm256_setzero_ps();
    const __m256 high = codeBook ? _mm256_loadu_ps(v.table + 8) : _mm256_setzero_ps();
    const MiniFloatDecoder miniFloatValues(v.miniFloat);
    const std::int64_t rowRuns = (v.runRows == 1 ? r : r / v.runRows) * v.scaleRowStep;
    const float* rowScales = v.scales + rowRuns;
    const std::int8_t* rowOffsets = v.offsets && v.kind == CompactMatrixView::Kind::ScaledInt8 ? v.offsets + rowRuns : nullptr;
    const float* rowMins = v.mins && v.kind == CompactMatrixView::Kind::ScaledInt8 ? v.mins + rowRuns : nullptr;
    // Element c + q of the row, in the run at `k` (of rowScales, rowOffsets).
    const auto element = [&](std::int64_t q, std::int64_t k) {
        const int code = v.code(at + q);
        if (miniFloat) return v.miniFloat.decode(static_cast<unsigned>(code));
        if (codeBook) return v.table[code % CompactMatrixView::kCodeBookSize];
        return static_cast<float>(code + (rowOffsets ? rowOffsets[k] : 0));
    };
    const auto eightValues = [&](__m256i codes) {
        if (codeBook) return codeBookValues(codes, low, high);
        return miniFloat ? miniFloatValues(codes) : _mm256_cvtepi32_ps(codes);
    };
    // The run of column c + i (its index in rowScales), followed as i grows (no division per element:
    // this is the hot path).
    std::int64_t run = v.runCols == 1 ? c : c / v.runCols, runEnd = (run + 1) * v.runCols;
    const auto runAt = [&](std::int64_t col) {
        for (; col >= runEnd; runEnd += v.runCols) ++run;
        return run * v.scaleColStep;
    };
    const auto one = [&](std::int64_t q) {
        const std::int64_t k = runAt(c + q);
        const float scaled = element(q, k) * rowScales[k];
        return rowMins ? scaled - rowMins[k] : scaled;
    };
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const std::int64_t k = runAt(c + i);
        if (c + i + 8 > runEnd || (v.nibbles && (at + i) % 2 != 0)) { // these 8 straddle runs, or bytes
            for (std::int64_t q = i; q < i + 8; ++q) dst[q] = one(q);
            continue;
        }
        __m256i codes = eightCodes(bytes + (v.nibbles ? (at + i) / 2 : at + i), v.nibbles,
                                   v.kind == CompactMatrixView::Kind::ScaledInt8);
        if (rowOffsets) codes = _mm256_add_epi32(codes, _mm256_set1_epi32(rowOffsets[k]));
        const __m256 f = eightValues(codes);
        const __m256 scaled = _mm256_mul_ps(f, _mm256_set1_ps(rowScales[k]));
        _mm256_storeu_ps(dst + i, rowMins ? _mm256_sub_ps(scaled, _mm256_set1_ps(rowMins[k])) : scaled);
    }
    for (; i < n; ++i) dst[i] = one(i);
}

// B panels for one task: each panel kc x 16 floats, for columns [n0, n1) and k in [k0, k0 + kc).
// NT: B is [n, k] (a weight's rows); NN/TN: B is [k, n]. A compact B is converted as it is copied.
float* packB(const Product& prod, std::int64_t n0, std::int64_t n1, std::int64_t k0, std::int64_t kc) {
    const ConstMatrixView& b = prod.b;
    const CompactMatrixView* compact = prod.bCompact;
    thread_local std::vector<float> buffer;
    const std::int64_t panels = (n1 - n0 + kNr - 1) / kNr;
    buffer.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, panels * kc * kNr)));
    for (std::int64_t p = 0; p < panels; ++p) {
        const std::int64_t j0 = n0 + p * kNr, cols = std::min<std::int64_t>(kNr, n1 - j0);
        float* dst = buffer.data() + p * kc * kNr;
        if (!prod.bTransposed) {
            for (std::int64_t kk = 0; kk < kc; ++kk) {
                float* d = dst + kk * kNr;
                if (compact)
                    compactToFloat(*compact, k0 + kk, j0, cols, d);
                else
                    std::copy_n(b.data + (k0 + kk) * b.stride + j0, cols, d);
                std::fill(d + cols, d + kNr, 0.0f);
            }
            continue;
        }
        if (kc == 0) continue; // no terms: B may be empty
        // B's rows j0.. from column k0, where they lie (float32) or converted into `rows` (compact).
        const float* src = nullptr;
        std::int64_t srcStride = b.stride;
        if (compact) {
            thread_local std::vector<float> rows;
            rows.resize(static_cast<std::size_t>(kNr * kc));
            for (std::int64_t r = 0; r < cols; ++r) compactToFloat(*compact, j0 + r, k0, kc, rows.data() + r * kc);
            src = rows.data();
            srcStride = kc;
        } else {
            src = b.data + j0 * b.stride + k0;
        }
        std::int64_t kk = 0;
        if (cols == kNr)
            for (; kk + 8 <= kc; kk += 8)
                for (std::int64_t q = 0; q < kNr; q += 8) transpose8x8(src + q * srcStride + kk, srcStride, dst + kk * kNr + q, kNr);
        for (; kk < kc; ++kk)
            for (std::int64_t q = 0; q < kNr; ++q) dst[kk * kNr + q] = q < cols ? src[q * srcStride + kk] : 0.0f;
    }
    return buffer.data();
}

// What one 6-row tile does in one k block: where its rows of A and C lie, which terms it takes,
// and whether C holds a running sum to add (not the first block) and the bias is due (the last).
struct TileSpan {
    const float* a[kMr];  // row r's element k at a[r][k * aStep]; rows past the end repeat the last
    std::int64_t aStep;   // 1: rows of A (NT, NN); A's stride: its columns (TN)
    float* c[kMr];
    std::int64_t rows, kAll, kStop, kEnd[kMr];
    bool skip, first, last;
};

TileSpan tileSpan(const Product& p, std::int64_t k0, std::int64_t k1, std::int64_t i, std::int64_t m1, std::int64_t j) {
    TileSpan t{};
    const std::int64_t K = p.k;
    t.rows = std::min<std::int64_t>(kMr, m1 - i);
    for (int r = 0; r < kMr; ++r) t.kEnd[r] = r >= t.rows ? 0 : p.lowerA ? std::min(K, i + r + 1) : K;
    const std::int64_t kAny = p.lowerA ? std::min(K, i + t.rows) : K;
    t.kAll = p.lowerA ? std::min(K, i + 1) : K;
    t.skip = k0 > 0 && k0 >= kAny; // this tile's terms ended in an earlier block
    t.kStop = std::min(k1, kAny);
    t.first = k0 == 0 && !p.accumulate;
    t.last = t.kStop == kAny;
    t.aStep = p.aTransposed ? p.a.stride : 1;
    for (int r = 0; r < kMr; ++r) {
        const std::int64_t row = i + std::min<std::int64_t>(r, t.rows - 1);
        // No terms (k = 0): A may be empty, its data null, and is not read.
        t.a[r] = K == 0 ? p.a.data : p.a.data + (p.aTransposed ? row : row * p.a.stride);
        t.c[r] = p.c.data + row * p.c.stride + j;
    }
    return t;
}

// One 6 x 16 tile of C at (i, j) over the k block [k0, k1) of B's packed panel (AVX2). The sums live
// in locals: __m256 may alias any float, so sums behind a pointer would be stored and reloaded
// around every load of A and B.
void tile(const Product& p, const float* panel, std::int64_t k0, std::int64_t k1, std::int64_t i, std::int64_t m1,
          std::int64_t j, std::int64_t n1) {
    const TileSpan t = tileSpan(p, k0, k1, i, m1, j);
    if (t.skip) return;
    const std::int64_t cols = std::min<std::int64_t>(kNr, n1 - j);
    const bool whole = cols == kNr; // masked moves are slow: only for the last panel
    const __m256i mask0 = laneMask(std::min<std::int64_t>(cols, 8));
    const __m256i mask1 = laneMask(std::max<std::int64_t>(cols - 8, 0));
    if (!t.first) // the running sum is added after this block's: fetch it meanwhile
        for (float* c : t.c) {
            _mm_prefetch(reinterpret_cast<const char*>(c), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(c + kNr - 1), _MM_HINT_T0);
        }
    __m256 acc[kMr][2];
    {
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
               c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        const float *a0 = t.a[0], *a1 = t.a[1], *a2 = t.a[2], *a3 = t.a[3], *a4 = t.a[4], *a5 = t.a[5];
        const float* bp = panel;
        std::int64_t k = k0, at = k0 * t.aStep;
        auto fma2 = [](const float* a, __m256 b0, __m256 b1, __m256& x0, __m256& x1) {
            const __m256 av = _mm256_broadcast_ss(a);
            x0 = _mm256_fmadd_ps(av, b0, x0);
            x1 = _mm256_fmadd_ps(av, b1, x1);
        };
        for (const std::int64_t kFull = std::min(t.kStop, t.kAll); k < kFull; ++k, bp += kNr, at += t.aStep) {
            const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
            fma2(a0 + at, b0, b1, c00, c01);
            fma2(a1 + at, b0, b1, c10, c11);
            fma2(a2 + at, b0, b1, c20, c21);
            fma2(a3 + at, b0, b1, c30, c31);
            fma2(a4 + at, b0, b1, c40, c41);
            fma2(a5 + at, b0, b1, c50, c51);
        }
        for (; k < t.kStop; ++k, bp += kNr, at += t.aStep) { // a triangular A's diagonal: row r takes k < kEnd[r]
            const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
            if (k < t.kEnd[0]) fma2(a0 + at, b0, b1, c00, c01);
            if (k < t.kEnd[1]) fma2(a1 + at, b0, b1, c10, c11);
            if (k < t.kEnd[2]) fma2(a2 + at, b0, b1, c20, c21);
            if (k < t.kEnd[3]) fma2(a3 + at, b0, b1, c30, c31);
            if (k < t.kEnd[4]) fma2(a4 + at, b0, b1, c40, c41);
            if (k < t.kEnd[5]) fma2(a5 + at, b0, b1, c50, c51);
        }
        acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
        acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
    }
    for (int r = 0; r < kMr; ++r) {
        __m256& x0 = acc[r][0];
        __m256& x1 = acc[r][1];
        if (!t.first) {
            x0 = _mm256_add_ps(whole ? _mm256_loadu_ps(t.c[r]) : _mm256_maskload_ps(t.c[r], mask0), x0);
            x1 = _mm256_add_ps(whole ? _mm256_loadu_ps(t.c[r] + 8) : _mm256_maskload_ps(t.c[r] + 8, mask1), x1);
        }
        if (t.last && p.bias) {
            x0 = _mm256_add_ps(x0, _mm256_maskload_ps(p.bias + j, mask0));
            x1 = _mm256_add_ps(x1, _mm256_maskload_ps(p.bias + j + 8, mask1));
        }
    }
    for (std::int64_t r = 0; r < t.rows; ++r) {
        if (whole) {
            _mm256_storeu_ps(t.c[r], acc[r][0]);
            _mm256_storeu_ps(t.c[r] + 8, acc[r][1]);
        } else {
            _mm256_maskstore_ps(t.c[r], mask0, acc[r][0]);
            _mm256_maskstore_ps(t.c[r] + 8, mask1, acc[r][1]);
        }
    }
}

// The same tile 6 x 32 wide on AVX-512: two adjacent panels (`panel1` null past the last one), the
// same sequence per element, so the same bits as tile().
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
// The lanes of a wide tile's two halves that lie in C (columns j..n1).
struct WideMasks {
    __mmask16 low, high;
};
WideMasks wideMasks(std::int64_t j, std::int64_t n1) {
    const std::int64_t cols = std::min<std::int64_t>(2 * kNr, n1 - j);
    const auto lanes = [](std::int64_t count) { // the first `count` lanes (none for count <= 0)
        if (count >= kNr) return __mmask16(0xFFFF);
        return static_cast<__mmask16>((1u << std::max<std::int64_t>(count, 0)) - 1);
    };
    return {lanes(cols), lanes(cols - kNr)};
}

// A wide tile's row of C asked for before its sum is added (not the first k block).
void prefetchWideRow(const float* c) {
    _mm_prefetch(reinterpret_cast<const char*>(c), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + 2 * kNr - 1), _MM_HINT_T0);
}

// A wide tile's row of C from this k block's sums: the running sum added first (`addC`), then the
// bias (`bias`: at column j, null unless this is the last block), stored in the lanes of `m`.
void finishWideRow(float* c, const float* bias, WideMasks m, bool addC, __m512 x0, __m512 x1) {
    if (addC) {
        x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m.low, c), x0);
        x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m.high, c + kNr), x1);
    }
    if (bias) {
        x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m.low, bias));
        x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m.high, bias + kNr));
    }
    _mm512_mask_storeu_ps(c, m.low, x0);
    _mm512_mask_storeu_ps(c + kNr, m.high, x1);
}

void tile512(const Product& p, const float* panel0, const float* panel1, std::int64_t k0, std::int64_t k1,
             std::int64_t i, std::int64_t m1, std::int64_t j, std::int64_t n1) {
    const TileSpan t = tileSpan(p, k0, k1, i, m1, j);
    if (t.skip) return;
    if (!t.first)
        for (float* c : t.c) prefetchWideRow(c);
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
           c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = t.a[0], *a1 = t.a[1], *a2 = t.a[2], *a3 = t.a[3], *a4 = t.a[4], *a5 = t.a[5];
    const float* bp0 = panel0;
    const float* bp1 = panel1 ? panel1 : panel0; // a lone panel: the second half repeats it, never stored
    std::int64_t k = k0, at = k0 * t.aStep;
#define QS_FMA2(a, x0, x1)                                                                                             \
    do {                                                                                                               \
        const __m512 av = _mm512_set1_ps(*(a));                                                                        \
        x0 = _mm512_fmadd_ps(av, b0, x0);                                                                              \
        x1 = _mm512_fmadd_ps(av, b1, x1);                                                                              \
    } while (0)
    for (const std::int64_t kFull = std::min(t.kStop, t.kAll); k < kFull; ++k, bp0 += kNr, bp1 += kNr, at += t.aStep) {
        const __m512 b0 = _mm512_loadu_ps(bp0), b1 = _mm512_loadu_ps(bp1);
        QS_FMA2(a0 + at, c00, c01);
        QS_FMA2(a1 + at, c10, c11);
        QS_FMA2(a2 + at, c20, c21);
        QS_FMA2(a3 + at, c30, c31);
        QS_FMA2(a4 + at, c40, c41);
        QS_FMA2(a5 + at, c50, c51);
    }
    for (; k < t.kStop; ++k, bp0 += kNr, bp1 += kNr, at += t.aStep) {
        const __m512 b0 = _mm512_loadu_ps(bp0), b1 = _mm512_loadu_ps(bp1);
        if (k < t.kEnd[0]) QS_FMA2(a0 + at, c00, c01);
        if (k < t.kEnd[1]) QS_FMA2(a1 + at, c10, c11);
        if (k < t.kEnd[2]) QS_FMA2(a2 + at, c20, c21);
        if (k < t.kEnd[3]) QS_FMA2(a3 + at, c30, c31);
        if (k < t.kEnd[4]) QS_FMA2(a4 + at, c40, c41);
        if (k < t.kEnd[5]) QS_FMA2(a5 + at, c50, c51);
    }
#undef QS_FMA2
    const __m512 acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    const WideMasks masks = wideMasks(j, n1);
    const float* bias = t.last && p.bias ? p.bias + j : nullptr;
    for (std::int64_t r = 0; r < t.rows; ++r)
        finishWideRow(t.c[r], bias, masks, !t.first, acc[r][0], acc[r][1]);
}

// Twelve rows of the wide tile: 24 sums in registers, so each k's two loads of B feed 24 FMAs
// instead of 12 (the 6-row tile is bound by its loads on cores with two 512-bit FMA units). Its rows
// of A come packed (packA: each k's 12 values side by side), so it reads A as one stream. The caller
// gives it whole tiles of plain products (no triangle in A or C) and the 6-row tile the rest. Each
// element's sequence is the 6-row tile's, so the same bits.
void tile512x12(const Product& p, const float* ap, const float* panel0, const float* panel1, std::int64_t k0,
                std::int64_t k1, std::int64_t i, std::int64_t j, std::int64_t n1) {
    const bool first = k0 == 0 && !p.accumulate, last = k1 == p.k;
    float* c0 = p.c.data + i * p.c.stride + j;
    if (!first)
        for (int r = 0; r < kMrWide; ++r) prefetchWideRow(c0 + r * p.c.stride);
    const float* bp0 = panel0;
    const float* bp1 = panel1 ? panel1 : panel0; // a lone panel: the second half repeats it, never stored
    __m512 x[kMrWide][2];
#pragma GCC unroll 12
    for (int r = 0; r < kMrWide; ++r) x[r][0] = x[r][1] = _mm512_setzero_ps();
    for (std::int64_t k = k0; k < k1; ++k, bp0 += kNr, bp1 += kNr, ap += kMrWide) {
        const __m512 b0 = _mm512_loadu_ps(bp0), b1 = _mm512_loadu_ps(bp1);
#pragma GCC unroll 12
        for (int r = 0; r < kMrWide; ++r) {
            const __m512 av = _mm512_set1_ps(ap[r]);
            x[r][0] = _mm512_fmadd_ps(av, b0, x[r][0]);
            x[r][1] = _mm512_fmadd_ps(av, b1, x[r][1]);
        }
    }
    const WideMasks masks = wideMasks(j, n1);
    const float* bias = last && p.bias ? p.bias + j : nullptr;
#pragma GCC unroll 12
    for (int r = 0; r < kMrWide; ++r)
        finishWideRow(c0 + r * p.c.stride, bias, masks, !first, x[r][0], x[r][1]);
}
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// Task (m0..m1, n0..n1) of C, one k block at a time: B's block packed once, then for each kMBlock
// of rows, each 16-column panel (32 on AVX-512) (in L1) against every tile of A's rows: 12 rows on
// AVX-512 while whole ones fit, 6 for the rest and for triangles.
void packedBlock(const Product& p, std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
    const std::int64_t K = p.k;
    const bool wide = useAvx512();
    for (std::int64_t k0 = 0; k0 < K || k0 == 0; k0 += kKBlock) {
        const std::int64_t k1 = std::min(K, k0 + kKBlock);
        if (p.lowerA && k0 > 0 && k0 >= m1) break; // every row of the block is done
        const float* panels = packB(p, n0, n1, k0, k1 - k0);
        for (std::int64_t mb = m0; mb < m1; mb += kMBlock) {
            const std::int64_t mbEnd = std::min(m1, mb + kMBlock);
            // Whole 12-row tiles of a plain product on AVX-512, their rows of A packed once for every panel.
            const std::int64_t wideTiles = wide && !p.lowerA && !p.lowerC ? (mbEnd - mb) / kMrWide : 0;
            const float* aPacked = wideTiles > 0 ? packA(p, mb, wideTiles, k0, k1 - k0) : nullptr;
            for (std::int64_t j = n0; j < n1; j += wide ? 2 * kNr : kNr) {
                const float* panel = panels + (j - n0) / kNr * (k1 - k0) * kNr;
                const float* next = j + kNr < n1 ? panel + (k1 - k0) * kNr : nullptr;
                // Lower C: tiles whose last row lies left of the panel hold nothing wanted.
                std::int64_t i = p.lowerC ? mb + std::max<std::int64_t>(0, j - kMr + 1 - mb) / kMr * kMr : mb;
                for (std::int64_t t = 0; t < wideTiles; ++t, i += kMrWide)
                    tile512x12(p, aPacked + t * (k1 - k0) * kMrWide, panel, next, k0, k1, i, j, n1);
                for (; i < mbEnd; i += kMr) {
                    if (wide)
                        tile512(p, panel, next, k0, k1, i, mbEnd, j, n1);
                    else
                        tile(p, panel, k0, k1, i, mbEnd, j, n1);
                }
            }
        }
    }
}

#else // the portable twin: the same sequence per element, one element at a time

void packedBlock(const Product& p, std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
    for (std::int64_t i = m0; i < m1; ++i) {
        const std::int64_t kEnd = p.lowerA ? std::min(p.k, i + 1) : p.k;
        for (std::int64_t j = n0; j < (p.lowerC ? std::min(n1, i + 1) : n1); ++j) {
            float& c = p.c.data[i * p.c.stride + j];
            float sum = p.accumulate ? c : 0.0f;
            for (std::int64_t k0 = 0; k0 < kEnd; k0 += kKBlock) {
                float s = 0;
                for (std::int64_t q = k0; q < std::min(kEnd, k0 + kKBlock); ++q)
                    s = std::fma(p.aTransposed ? p.a.data[q * p.a.stride + i] : p.a.data[i * p.a.stride + q],
                                 p.bTransposed ? bAt(p, j, q) : bAt(p, q, j), s);
                sum = k0 == 0 && !p.accumulate ? s : sum + s;
            }
            c = p.bias ? sum + p.bias[j] : sum;
        }
    }
}

#endif

template <class View>
std::string shapeText(const View& v) {
    return std::to_string(v.rows) + "x" + std::to_string(v.cols);
}

void run(const Product& p) {
    forEachBlock(p.c.rows, p.c.cols, p.k, p.lowerC ? GemmShape::Lower : GemmShape::Full,
                 [&](std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) { packedBlock(p, m0, m1, n0, n1); });
}

// The product C = A·Bᵀ, or C = A·B, once the shapes agree; `what` names the caller in the error.
Product productNT(const char* what, ConstMatrixView a, ConstMatrixView b, MatrixView c) {
    if (b.cols != a.cols || c.rows != a.rows || c.cols != b.rows)
        throw Error(std::string(what) + ": shapes do not agree (" + shapeText(a) + " times the transpose of " +
                    shapeText(b) + " into " + shapeText(c) + ")");
    return {a, b, c, nullptr, a.cols, false, true};
}
Product productNN(const char* what, ConstMatrixView a, ConstMatrixView b, MatrixView c) {
    if (b.rows != a.cols || c.rows != a.rows || c.cols != b.cols)
        throw Error(std::string(what) + ": shapes do not agree (" + shapeText(a) + " times " + shapeText(b) +
                    " into " + shapeText(c) + ")");
    return {a, b, c, nullptr, a.cols, false, false};
}

// Runs p (shaped from B's view) reading B's values from their compact form.
void runWithCompactB(const char* what, Product p, const CompactMatrixView& b, const float* bias) {
    const bool scaled = b.scaled();
    if (scaled && (!b.scales || b.runRows < 1 || b.runCols < 1))
        throw Error(std::string(what) + ": a scaled operand (int8, code-book, mini-float codes) needs its scales and runs of at least one element");
    if (b.kind == CompactMatrixView::Kind::CodeBook && !b.table)
        throw Error(std::string(what) + ": a code-book operand needs its table");
    if (b.kind == CompactMatrixView::Kind::ScaledMiniFloat && !b.miniFloat.readable(b.nibbles ? 4 : 8))
        throw Error(std::string(what) + ": a mini-float operand needs an exponent field, a bias of at most 127 and at most " +
                    (b.nibbles ? "4" : "8") + " bits a code");
    if (scaled && b.nibbles && b.stride % 2 != 0)
        throw Error(std::string(what) + ": a 4-bit operand needs an even stride (rows start on a byte)");
    p.bias = bias;
    p.bCompact = &b;
    run(p);
}

} // namespace

void compactToFloats(const CompactMatrixView& v, std::int64_t r, std::int64_t c, std::int64_t n, float* dst) {
#if QS_GEMM_AVX2
    compactToFloat(v, r, c, n, dst);
#else
    for (std::int64_t i = 0; i < n; ++i) dst[i] = v.at(r, c + i);
#endif
}

void gemmNT(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape) {
    Product p = productNT("gemmNT", a, b, c);
    p.bias = bias;
    p.lowerC = shape == GemmShape::Lower;
    run(p);
}

void gemmNN(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias, GemmShape shape) {
    Product p = productNN("gemmNN", a, b, c);
    p.bias = bias;
    p.lowerA = shape == GemmShape::Lower;
    run(p);
}

void gemmNTAccumulate(ConstMatrixView a, ConstMatrixView b, MatrixView c, GemmShape shape) {
    Product p = productNT("gemmNTAccumulate", a, b, c);
    p.lowerC = shape == GemmShape::Lower;
    p.accumulate = true;
    run(p);
}

void gemmNT(ConstMatrixView a, const CompactMatrixView& b, MatrixView c, const float* bias) {
    runWithCompactB("gemmNT", productNT("gemmNT", a, {nullptr, b.rows, b.cols, b.stride}, c), b, bias);
}

void gemmNN(ConstMatrixView a, const CompactMatrixView& b, MatrixView c, const float* bias) {
    runWithCompactB("gemmNN", productNN("gemmNN", a, {nullptr, b.rows, b.cols, b.stride}, c), b, bias);
}

void gemmNNAccumulate(ConstMatrixView a, ConstMatrixView b, MatrixView c) {
    Product p = productNN("gemmNNAccumulate", a, b, c);
    p.accumulate = true;
    run(p);
}

void gemmTN(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias) {
    if (b.rows != a.rows || c.rows != a.cols || c.cols != b.cols)
        throw Error("gemmTN: shapes do not agree (the transpose of " + shapeText(a) + " times " + shapeText(b) +
                    " into " + shapeText(c) + ")");
    run({a, b, c, bias, a.rows, true, false});
}

} // namespace qs::core
