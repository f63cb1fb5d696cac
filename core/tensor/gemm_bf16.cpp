// SPDX-License-Identifier: MIT
#include "tensor/gemm_bf16.h"

#include "base/error.h"
#include "tensor/half.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <omp.h>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define QS_AMX_KERNELS 1
#else
#define QS_AMX_KERNELS 0
#endif

namespace qs::core {
namespace {

std::atomic<bool> g_tilesAllowed{true};

// A tile is 16 rows of 64 bytes: 16 x 32 bf16 of A, 16 k pairs x 16 columns of B, 16 x 16 float of C.
constexpr std::int64_t kTileRows = 16, kTileK = 32, kTileValues = 512;
// A panel of B is 32 columns: two tiles side by side, with two tiles of A rows making 32 x 32 of C.
constexpr std::int64_t kPanel = 32;
// Below this many flops a product runs on the calling thread (as gemm.cpp decides).
constexpr double kParallelMinFlops = 1 << 22;

bool tilesPresent() {
#if QS_AMX_KERNELS
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool avx512 = (b >> 16) & 1u, avx512bw = (b >> 30) & 1u, avx512vl = (b >> 31) & 1u;
    const bool amxBf16 = (d >> 22) & 1u, amxTile = (d >> 24) & 1u;
    if (!avx512 || !avx512bw || !avx512vl || !amxBf16 || !amxTile) return false;
    // Linux hands out the tiles' 8 KB of state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA).
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
}

template <class T> struct AlignedFree {
    void operator()(T* p) const { std::free(p); }
};
template <class T> using AlignedArray = std::unique_ptr<T[], AlignedFree<T>>;
// Storage of `count` values on a 64-byte boundary (a tile row, a cache line), not initialised.
template <class T> AlignedArray<T> alignedArray(std::size_t count) {
    const std::size_t bytes = std::max<std::size_t>(64, (count * sizeof(T) + 63) / 64 * 64);
    T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!p) throw Error("bf16 products: out of memory for " + std::to_string(bytes) + " bytes");
    return AlignedArray<T>(p);
}
// This thread's scratch `Slot` (one per use) of at least `count` values, kept from product to product:
// fresh pages for each product would cost more than the product (the kernel zeroes every page it hands out).
template <class T, int Slot> T* threadScratch(std::size_t count) {
    thread_local AlignedArray<T> storage;
    thread_local std::size_t capacity = 0;
    if (count > capacity) {
        storage = alignedArray<T>(count);
        capacity = count;
    }
    return storage.get();
}

void checkShapes(ConstMatrixView a, const Bf16Panels& b, MatrixView c) {
    if (a.cols != b.cols() || c.rows != a.rows || c.cols != b.rows())
        throw Error("gemmBf16: A [" + std::to_string(a.rows) + ", " + std::to_string(a.cols) +
                    "] times Bᵀ of B [" + std::to_string(b.rows()) + ", " + std::to_string(b.cols()) +
                    "] into C [" + std::to_string(c.rows) + ", " + std::to_string(c.cols) + "]");
}

// The fallback: C = A'·B'ᵀ on the float32 products, A' = A rounded to bf16.
void gemmRounded(ConstMatrixView a, const Bf16Panels& b, MatrixView c, const float* bias) {
    std::vector<float> rounded(static_cast<std::size_t>(a.rows * a.cols));
    for (std::int64_t r = 0; r < a.rows; ++r)
        for (std::int64_t j = 0; j < a.cols; ++j)
            rounded[static_cast<std::size_t>(r * a.cols + j)] =
                bf16ToF32(f32ToBf16(a.data[r * a.stride + j]));
    CompactMatrixView bView;
    bView.kind = CompactMatrixView::Kind::Bf16;
    bView.data = b.data();
    bView.rows = b.rows();
    bView.cols = bView.stride = b.cols();
    gemmNT({rounded.data(), a.rows, a.cols, a.cols}, bView, c, bias);
}

#if QS_AMX_KERNELS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,amx-tile,amx-bf16"))),         \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,amx-tile,amx-bf16")
#endif

// Sixteen floats to bf16 as f32ToBf16 rounds them (to nearest even; NaN stays a quiet NaN). The
// zero-masked forms with every lane live: GCC 12 warns about the plain ones' undefined operand.
__m256i roundToBf16(__m512 values) {
    constexpr __mmask16 all = 0xFFFF;
    const __m512i u = _mm512_castps_si512(values);
    const __m512i high = _mm512_maskz_srli_epi32(all, u, 16);
    const __m512i lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_maskz_srli_epi32(
        all, _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __m512i magnitude = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7f800000));
    const __m512i quiet = _mm512_or_si512(high, _mm512_set1_epi32(0x40));
    return _mm512_maskz_cvtepi32_epi16(all, _mm512_mask_blend_epi32(nan, rounded, quiet));
}

// A row of `cols` floats rounded into dst.
void roundRow(const float* src, std::int64_t cols, std::uint16_t* dst) {
    std::int64_t j = 0;
    for (; j + 16 <= cols; j += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), roundToBf16(_mm512_loadu_ps(src + j)));
    if (j < cols) {
        const __mmask16 live = static_cast<__mmask16>((1u << (cols - j)) - 1u);
        _mm256_mask_storeu_epi16(dst + j, live, roundToBf16(_mm512_maskz_loadu_ps(live, src + j)));
    }
}

// One panel of B from its 32 rows (`rows`, [32, k] float32; rows past B's end zero): each row rounded,
// then 16 x 16 blocks of bf16 pairs transposed into the tiles' layout (Bf16Panels::indexOf).
void packPanel(const float* rows, std::int64_t k, std::int64_t kBlocks, std::uint16_t* panel) {
    const std::int64_t pairsPerRow = kBlocks * kTileK / 2;
    std::uint32_t* pairs = threadScratch<std::uint32_t, 2>(static_cast<std::size_t>(kPanel * pairsPerRow));
    for (std::int64_t j = 0; j < kPanel; ++j) {
        auto* row = reinterpret_cast<std::uint16_t*>(pairs + j * pairsPerRow);
        roundRow(rows + j * k, k, row);
        std::fill(row + k, row + 2 * pairsPerRow, std::uint16_t{0});
    }
    auto* dst = reinterpret_cast<std::uint32_t*>(panel);
    for (std::int64_t kb = 0; kb < kBlocks; ++kb)
        for (std::int64_t t = 0; t < 2; ++t)
            for (std::int64_t kp = 0; kp < kTileRows; ++kp, dst += kTileRows)
                for (std::int64_t nn = 0; nn < kTileRows; ++nn)
                    dst[nn] = pairs[static_cast<std::size_t>((t * kTileRows + nn) * pairsPerRow +
                                                             kb * kTileRows + kp)];
}

struct alignas(64) TileConfig {
    std::uint8_t palette = 1, startRow = 0, reserved[14] = {};
    std::uint16_t bytesPerRow[16] = {};
    std::uint8_t rows[16] = {};
};

// This thread's tiles: eight of 16 rows x 64 bytes. Tile instructions stay in functions of their own,
// never in an OpenMP region's body: clang outlines that body without the target attributes.
void configureTiles() {
    TileConfig config;
    for (int t = 0; t < 8; ++t) {
        config.bytesPerRow[t] = 64;
        config.rows[t] = kTileRows;
    }
    _tile_loadconfig(&config);
}

void releaseTiles() { _tile_release(); }

// One panel of C (32 columns from n0) for every block of 32 rows: tiles 0-3 sum C's four 16 x 16
// quarters, 4-5 hold A's two row tiles, 6-7 B's two column tiles; k blocks in order.
void panelOnTiles(const std::uint16_t* a, std::int64_t lda, std::int64_t mBlocks, const std::uint16_t* panel,
                  std::int64_t kBlocks, float (*out)[kPanel]) {
    const std::int64_t strideA = lda * static_cast<std::int64_t>(sizeof(std::uint16_t));
    for (std::int64_t mb = 0; mb < mBlocks; ++mb) {
        const std::uint16_t* a0 = a + mb * kPanel * lda;
        const std::uint16_t* a1 = a0 + kTileRows * lda;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (std::int64_t kb = 0; kb < kBlocks; ++kb) {
            const std::uint16_t* b0 = panel + kb * 2 * kTileValues;
            _tile_loadd(4, a0 + kb * kTileK, strideA);
            _tile_loadd(5, a1 + kb * kTileK, strideA);
            _tile_loadd(6, b0, 64);
            _tile_loadd(7, b0 + kTileValues, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        float(*block)[kPanel] = out + mb * kPanel;
        constexpr long kOutStride = kPanel * sizeof(float);
        _tile_stored(0, &block[0][0], kOutStride);
        _tile_stored(1, &block[0][16], kOutStride);
        _tile_stored(2, &block[16][0], kOutStride);
        _tile_stored(3, &block[16][16], kOutStride);
    }
}

void gemmTiles(ConstMatrixView a, const Bf16Panels& b, MatrixView c, const float* bias) {
    const std::int64_t m = a.rows, n = b.rows(), kBlocks = b.kBlocks();
    const std::int64_t mBlocks = (m + kPanel - 1) / kPanel, panels = (n + kPanel - 1) / kPanel;
    // A's rows one cache line longer than k's tiles, so the 16 rows a tile load reads do not all fall
    // in one L1 set (k = 2048 would make them 4 KB apart).
    const std::int64_t lda = kBlocks * kTileK + 32;
    const std::int64_t paddedRows = mBlocks * kPanel;
    std::uint16_t* rounded = threadScratch<std::uint16_t, 0>(static_cast<std::size_t>(paddedRows * lda));
    const bool parallel =
        2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(a.cols) >=
            kParallelMinFlops &&
        omp_get_max_threads() > 1 && !omp_in_parallel();
#pragma omp parallel if (parallel)
    {
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < paddedRows; ++r) { // rows past m, and columns past k, zero
            std::uint16_t* row = rounded + r * lda;
            const std::int64_t live = r < m ? a.cols : 0;
            if (live) roundRow(a.data + r * a.stride, live, row);
            std::fill(row + live, row + lda, std::uint16_t{0});
        }
        configureTiles();
        auto* blocks = reinterpret_cast<float(*)[kPanel]>(
            threadScratch<float, 1>(static_cast<std::size_t>(paddedRows * kPanel)));
#pragma omp for schedule(static)
        for (std::int64_t p = 0; p < panels; ++p) {
            panelOnTiles(rounded, lda, mBlocks, b.data() + p * kBlocks * 2 * kTileValues, kBlocks, blocks);
            const std::int64_t n0 = p * kPanel, cols = std::min(kPanel, n - n0);
            for (std::int64_t r = 0; r < m; ++r) {
                float* dst = c.data + r * c.stride + n0;
                for (std::int64_t j = 0; j < cols; ++j)
                    dst[j] = blocks[r][j] + (bias ? bias[n0 + j] : 0.0f);
            }
        }
        releaseTiles();
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

} // namespace

bool bf16TilesAvailable() {
    static const bool present = tilesPresent();
    return present && g_tilesAllowed.load(std::memory_order_relaxed);
}

bool allowBf16Tiles(bool allowed) {
    return g_tilesAllowed.exchange(allowed);
}

void Bf16Panels::Free::operator()(std::uint16_t* p) const {
    std::free(p);
}

Bf16Panels::Bf16Panels(std::int64_t n, std::int64_t k, bool tiled) : m_n(n), m_k(k), m_tiled(tiled) {
    m_size = tiled ? static_cast<std::size_t>((n + kPanel - 1) / kPanel * kBlocks() * 2 * kTileValues)
                   : static_cast<std::size_t>(n * k);
    m_data = std::unique_ptr<std::uint16_t[], Free>(alignedArray<std::uint16_t>(m_size).release());
}

std::size_t Bf16Panels::indexOf(std::int64_t r, std::int64_t c) const {
    if (!m_tiled) return static_cast<std::size_t>(r * m_k + c);
    // Panel r / 32, k block c / 32, tile (r % 32) / 16; in the tile, row (c % 32) / 2 holds the pairs
    // (c even, c odd) of its 16 columns.
    const std::int64_t tile = (r / kPanel * kBlocks() + c / kTileK) * 2 + r % kPanel / kTileRows;
    return static_cast<std::size_t>(tile * kTileValues + c % kTileK / 2 * 32 + r % kTileRows * 2 + c % 2);
}

template <class RowReader>
Bf16Panels Bf16Panels::pack(std::int64_t n, std::int64_t k, bool transposed, const RowReader& readRow) {
    if (n < 0 || k < 0) throw Error("Bf16Panels: negative shape");
    Bf16Panels p(n, k, bf16TilesAvailable());
    const bool parallel =
        static_cast<double>(n) * static_cast<double>(k) >= kParallelMinFlops && !omp_in_parallel();
#if QS_AMX_KERNELS
    if (p.m_tiled && !transposed) { // B's rows: a panel's 32 rows at a time
        const std::int64_t panels = (n + kPanel - 1) / kPanel, kBlocks = p.kBlocks();
#pragma omp parallel if (parallel)
        {
            std::vector<float> rows(static_cast<std::size_t>(kPanel * k));
#pragma omp for schedule(static)
            for (std::int64_t panel = 0; panel < panels; ++panel) {
                for (std::int64_t j = 0; j < kPanel; ++j) {
                    float* row = rows.data() + j * k;
                    if (panel * kPanel + j < n)
                        readRow(panel * kPanel + j, row);
                    else
                        std::fill_n(row, k, 0.0f);
                }
                packPanel(rows.data(), k, kBlocks, p.m_data.get() + panel * kBlocks * 2 * kTileValues);
            }
        }
        return p;
    }
#endif
    // Otherwise value by value: the row-major layout, and Bᵀ's rows (GPT-2's Conv1D) into tiles
    // (whose padding stays zero).
    std::fill_n(p.m_data.get(), p.m_size, std::uint16_t{0});
    const std::int64_t rows = transposed ? k : n, cols = transposed ? n : k;
#pragma omp parallel if (parallel)
    {
        std::vector<float> row(static_cast<std::size_t>(cols));
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < rows; ++r) {
            readRow(r, row.data());
            for (std::int64_t j = 0; j < cols; ++j)
                p.m_data[transposed ? p.indexOf(j, r) : p.indexOf(r, j)] =
                    f32ToBf16(row[static_cast<std::size_t>(j)]);
        }
    }
    return p;
}

Bf16Panels Bf16Panels::fromRows(ConstMatrixView b) {
    return pack(b.rows, b.cols, false,
                [&](std::int64_t r, float* dst) { std::copy_n(b.data + r * b.stride, b.cols, dst); });
}

Bf16Panels Bf16Panels::fromColumns(ConstMatrixView bT) {
    return pack(bT.cols, bT.rows, true,
                [&](std::int64_t r, float* dst) { std::copy_n(bT.data + r * bT.stride, bT.cols, dst); });
}

Bf16Panels Bf16Panels::fromRows(const CompactMatrixView& b) {
    return pack(b.rows, b.cols, false,
                [&](std::int64_t r, float* dst) { compactToFloats(b, r, 0, b.cols, dst); });
}

Bf16Panels Bf16Panels::fromColumns(const CompactMatrixView& bT) {
    return pack(bT.cols, bT.rows, true,
                [&](std::int64_t r, float* dst) { compactToFloats(bT, r, 0, bT.cols, dst); });
}

void gemmBf16(ConstMatrixView a, const Bf16Panels& b, MatrixView c, const float* bias) {
    checkShapes(a, b, c);
    if (a.rows == 0 || b.rows() == 0) return;
#if QS_AMX_KERNELS
    if (b.tiled()) {
        gemmTiles(a, b, c, bias);
        return;
    }
#endif
    gemmRounded(a, b, c, bias);
}

} // namespace qs::core
