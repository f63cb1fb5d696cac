// SPDX-License-Identifier: MIT
#include "cost/gemv_kernels.h"

#include "base/error.h"
#include "tensor/half.h"
#include "tensor/simd.h"

#include <omp.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

namespace qs::core {

namespace {

using simd::F8;
using simd::load;

constexpr std::int64_t kStep = 32;     // columns per accumulation step: four vectors of eight partial sums
constexpr std::int64_t kTaskRows = 64; // VQ work item: rows of one codebook tile sharing a decoded codebook

std::int64_t ceilDiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::int64_t roundUp(std::int64_t a, std::int64_t b) { return ceilDiv(a, b) * b; }
int threadCount(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

float halfToFloat(std::uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return f16ToF32(h);
#endif
}

F8 halvesToFloats(const std::uint16_t* p) {
#if defined(__F16C__)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#else
    F8 v;
    for (int i = 0; i < simd::kLanes; ++i) v[i] = f16ToF32(p[i]);
    return v;
#endif
}

void halvesToFloats(const std::uint16_t* src, std::int64_t n, float* dst) {
    std::int64_t i = 0;
    for (; i + simd::kLanes <= n; i += simd::kLanes) simd::store(dst + i, halvesToFloats(src + i));
    for (; i < n; ++i) dst[i] = halfToFloat(src[i]);
}

// The fixed summation order of the header: column c adds into lane c % 8 of accumulator (c / 8) % 4.
struct Partials {
    F8 a0{}, a1{}, a2{}, a3{};

    void add(F8 w0, F8 w1, F8 w2, F8 w3, const float* x) {
        a0 += w0 * load(x);
        a1 += w1 * load(x + 8);
        a2 += w2 * load(x + 16);
        a3 += w3 * load(x + 24);
    }
    float sum() const {
        const F8 p = (a0 + a1) + (a2 + a3);
        return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
    }
};

// x zero-padded to `padded` columns, so kernels run whole steps and padded weights add exact zeros.
std::vector<float> paddedInput(const float* x, std::int64_t cols, std::int64_t padded) {
    std::vector<float> xp(static_cast<std::size_t>(padded), 0.0f);
    std::copy(x, x + cols, xp.begin());
    return xp;
}

// ---- INT4 -------------------------------------------------------------------------------------------

using Bytes16 = std::uint8_t __attribute__((vector_size(16)));
using Words8 = std::uint16_t __attribute__((vector_size(16)));

// Bytes 0..7 of b as eight floats.
F8 bytesToFloats(Bytes16 b) {
    return __builtin_convertvector(__builtin_convertvector(__builtin_shufflevector(b, b, 0, 1, 2, 3, 4, 5, 6, 7), simd::I8), F8);
}
Bytes16 loadEightBytes(const std::uint8_t* p) {
    using Words2 = std::uint64_t __attribute__((vector_size(16)));
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return (Bytes16)Words2{v, 0};
}
// x86 has no byte shift: the high nibbles shift as 16-bit words, then the mask drops the neighbour's bits.
Bytes16 highNibbles(Bytes16 b) { return (Bytes16)((Words8)b >> 4) & 15; }

// One 32-column step of codes: bytes 0..15 hold columns 0..15 (low nibbles) and 16..31 (high nibbles).
void addInt4Step(const std::uint8_t* codes, const float* x, Partials& p) {
    const Bytes16 b0 = loadEightBytes(codes), b1 = loadEightBytes(codes + 8);
    p.add(bytesToFloats(b0 & 15), bytesToFloats(b1 & 15), bytesToFloats(highNibbles(b0)), bytesToFloats(highNibbles(b1)),
          x);
}

std::int64_t int4ByteOfColumn(std::int64_t c) { return c / kStep * 16 + c % 16; }
int int4ShiftOfColumn(std::int64_t c) { return c % kStep < 16 ? 0 : 4; }

// ---- VQ ---------------------------------------------------------------------------------------------

void checkVqShape(const GemvVqShape& s) {
    if (s.dim != 1 && s.dim != 2 && s.dim != 4) throw Error("gemv vq: dim must be 1, 2 or 4");
    if (s.bitsPerDim < 1 || s.indexBits() > 12)
        throw Error("gemv vq: bits per dimension must be >= 1 with bits * dim <= 12, got " +
                    std::to_string(s.bitsPerDim) + " x " + std::to_string(s.dim));
    if (s.colsPerCodebook < 1 || s.rowsPerCodebook < 1) throw Error("gemv vq: codebook tile must be >= 1 x 1");
}

// Tile geometry shared by the packer, the dequantizer and the kernel.
struct VqGeometry {
    std::int64_t rows, cols, groupCols, blockRows, colGroups, rowBlocks, stepBytes, fullGroupBytes, rowBytes;

    VqGeometry(std::int64_t r, std::int64_t c, const GemvVqShape& s)
        : rows(r), cols(c), groupCols(std::min(s.colsPerCodebook, c)), blockRows(std::min(s.rowsPerCodebook, r)),
          colGroups(ceilDiv(c, groupCols)), rowBlocks(ceilDiv(r, blockRows)), stepBytes(4 * s.bitsPerDim),
          fullGroupBytes(ceilDiv(groupCols, kStep) * stepBytes), rowBytes(0) {
        if (colGroups > 1 && groupCols % kStep != 0)
            throw Error("gemv vq: columns per codebook (" + std::to_string(groupCols) +
                        ") must be a multiple of 32 or cover all " + std::to_string(c) + " columns");
        for (std::int64_t g = 0; g < colGroups; ++g) rowBytes += groupSteps(g) * stepBytes;
    }
    std::int64_t groupSteps(std::int64_t g) const { return ceilDiv(std::min(groupCols, cols - g * groupCols), kStep); }
    std::int64_t groupBytes(std::int64_t g) const { return groupSteps(g) * stepBytes; }
    std::int64_t blockStart(std::int64_t rb) const { return rb * blockRows; }
    std::int64_t rowsIn(std::int64_t rb) const { return std::min(blockRows, rows - blockStart(rb)); }
    /// First index byte of row r's indices in column group g.
    std::int64_t offset(std::int64_t r, std::int64_t g) const {
        const std::int64_t rb = r / blockRows, r0 = blockStart(rb);
        return r0 * rowBytes + rowsIn(rb) * g * fullGroupBytes + (r - r0) * groupBytes(g);
    }
};

VqGeometry geometryOf(const GemvVqWeight& w) { return VqGeometry(w.rows, w.cols, w.shape); }

std::uint64_t load64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v; // little-endian hosts only (x86, arm64)
}

// Index `u` of a group's K-bit little-endian bit string.
std::uint32_t readIndex(const std::uint8_t* group, std::int64_t u, int bits) {
    const std::int64_t bit = u * bits;
    return static_cast<std::uint32_t>((load64(group + bit / 8) >> (bit % 8)) & ((1u << bits) - 1));
}

// Eight K-bit indices from K bytes (indices 4..7 start at bit 4K, byte 4K/8, shifted by 0 or 4).
template <int K>
void readEight(const std::uint8_t* p, std::uint32_t* idx) {
    constexpr std::uint64_t mask = (1u << K) - 1;
    const std::uint64_t lo = load64(p), hi = load64(p + 4 * K / 8) >> (4 * K % 8);
    for (int i = 0; i < 4; ++i) {
        idx[i] = static_cast<std::uint32_t>((lo >> (i * K)) & mask);
        idx[4 + i] = static_cast<std::uint32_t>((hi >> (i * K)) & mask);
    }
}

// Eight weights (columns) from entries of D = 2 or 4 floats: 8 / D look-ups, each one load of a whole entry.
template <int D>
F8 lookUp(const float* book, const std::uint32_t* idx) {
    if constexpr (D == 2) {
        using Pairs = double __attribute__((vector_size(32)));
        const auto pair = [book](std::uint32_t e) {
            double v;
            std::memcpy(&v, book + 2 * e, 8);
            return v;
        };
        return (F8)Pairs{pair(idx[0]), pair(idx[1]), pair(idx[2]), pair(idx[3])};
    } else {
        using F4 = float __attribute__((vector_size(16)));
        F4 a, b;
        std::memcpy(&a, book + 4 * idx[0], 16);
        std::memcpy(&b, book + 4 * idx[1], 16);
        return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7);
    }
}

// Eight K-bit indices (K <= 8) from K bytes as vector lanes: 0..3 from the low 4K bits, 4..7 from the next 4K.
template <int K>
simd::I8 indexLanes(const std::uint8_t* p) {
    const std::uint64_t v = load64(p);
    const auto lo = static_cast<std::uint32_t>(v), hi = static_cast<std::uint32_t>(v >> (4 * K));
    const simd::U8 shifts{0, K, 2 * K, 3 * K, 0, K, 2 * K, 3 * K};
    return (simd::I8)((simd::U8{lo, lo, lo, lo, hi, hi, hi, hi} >> shifts) & ((1u << K) - 1));
}

// Scalar entries (D = 1): register permutes up to 16 entries (the book holds >= 16 floats), else loads.
template <int K>
F8 lookUpLanes(const float* book, simd::I8 idx) {
    if constexpr (K <= 3) {
        return simd::permute(load(book), idx);
    } else if constexpr (K == 4) {
        return simd::select(idx > 7, simd::permute(load(book + 8), idx), simd::permute(load(book), idx));
    } else { // eight loads (AVX2's gather gained under 20 % here)
        return F8{book[idx[0]], book[idx[1]], book[idx[2]], book[idx[3]],
                  book[idx[4]], book[idx[5]], book[idx[6]], book[idx[7]]};
    }
}

// Rows [0, n) of one codebook tile (their indices `groupBytes` apart), `steps` steps of 32 columns.
template <int D, int K>
void vqTileRows(const std::uint8_t* idx, std::int64_t n, std::int64_t steps, std::int64_t groupBytes,
                const float* book, const float* x, Partials* acc) {
    constexpr int chunks = 4 / D; // 8-index chunks per step (K bytes each)
    for (std::int64_t i = 0; i < n; ++i) {
        Partials p = acc[i];
        const std::uint8_t* q = idx + i * groupBytes;
        for (std::int64_t t = 0; t < steps; ++t, q += chunks * K) {
            if constexpr (D == 1) {
                p.add(lookUpLanes<K>(book, indexLanes<K>(q)), lookUpLanes<K>(book, indexLanes<K>(q + K)),
                      lookUpLanes<K>(book, indexLanes<K>(q + 2 * K)), lookUpLanes<K>(book, indexLanes<K>(q + 3 * K)),
                      x + t * kStep);
            } else {
                std::uint32_t ix[32 / D];
                for (int c = 0; c < chunks; ++c) readEight<K>(q + c * K, ix + 8 * c);
                p.add(lookUp<D>(book, ix), lookUp<D>(book, ix + 8 / D), lookUp<D>(book, ix + 16 / D),
                      lookUp<D>(book, ix + 24 / D), x + t * kStep);
            }
        }
        acc[i] = p;
    }
}

using VqTileFn = void (*)(const std::uint8_t*, std::int64_t, std::int64_t, std::int64_t, const float*, const float*,
                          Partials*);

template <int D, int... B>
VqTileFn vqTileFnFor(int bits, std::integer_sequence<int, B...>) {
    VqTileFn f = nullptr;
    ((bits == B + 1 ? (f = &vqTileRows<D, (B + 1) * D>) : f), ...);
    return f;
}

VqTileFn vqTileFn(const GemvVqShape& s) {
    switch (s.dim) {
    case 1: return vqTileFnFor<1>(s.bitsPerDim, std::make_integer_sequence<int, 8>{});
    case 2: return vqTileFnFor<2>(s.bitsPerDim, std::make_integer_sequence<int, 6>{});
    default: return vqTileFnFor<4>(s.bitsPerDim, std::make_integer_sequence<int, 3>{});
    }
}

} // namespace

// ---- sizes ------------------------------------------------------------------------------------------

std::int64_t GemvFp16Weight::storedBytes() const { return rows * stride * 2; }

std::int64_t GemvInt4Weight::storedBytes() const {
    return static_cast<std::int64_t>(codes.size() + 2 * (scales.size() + zeros.size()));
}

std::int64_t GemvVqWeight::storedBytes() const {
    return rows * rowBytes + static_cast<std::int64_t>(2 * codebook16.size() + 4 * codebook32.size());
}

// ---- packers ----------------------------------------------------------------------------------------

GemvFp16Weight packFp16(const float* w, std::int64_t rows, std::int64_t cols) {
    GemvFp16Weight p{rows, cols, roundUp(cols, kStep), {}};
    p.data.assign(static_cast<std::size_t>(rows * p.stride), 0);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) p.data[r * p.stride + c] = f32ToF16(w[r * cols + c]);
    return p;
}

GemvInt4Weight packInt4(const float* w, std::int64_t rows, std::int64_t cols, int groupSize) {
    if (groupSize < kStep || groupSize % kStep != 0) throw Error("gemv int4: group size must be a multiple of 32");
    GemvInt4Weight p;
    p.rows = rows, p.cols = cols, p.groupSize = groupSize, p.groups = ceilDiv(cols, groupSize);
    const std::int64_t rowCodes = p.groups * groupSize / 2;
    p.codes.assign(static_cast<std::size_t>(rows * rowCodes), 0);
    p.scales.resize(static_cast<std::size_t>(rows * p.groups));
    p.zeros.resize(p.scales.size());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t g = 0; g < p.groups; ++g) {
            const float* src = w + r * cols + g * groupSize;
            const std::int64_t n = std::min<std::int64_t>(groupSize, cols - g * groupSize);
            const auto [lo, hi] = std::minmax_element(src, src + n);
            const float mn = std::min(*lo, 0.0f), mx = std::max(*hi, 0.0f);
            std::uint16_t s16 = f32ToF16(mx > mn ? (mx - mn) / 15.0f : 1.0f);
            if (halfToFloat(s16) == 0.0f) s16 = f32ToF16(1.0f);
            const float scale = halfToFloat(s16);
            const float zero = std::clamp(std::nearbyint(-mn / scale), 0.0f, 15.0f);
            p.scales[r * p.groups + g] = s16;
            p.zeros[r * p.groups + g] = f32ToF16(zero);
            for (std::int64_t i = 0; i < n; ++i) {
                const auto q = static_cast<std::uint8_t>(std::clamp(std::nearbyint(src[i] / scale) + zero, 0.0f, 15.0f));
                const std::int64_t c = g * groupSize + i;
                p.codes[r * rowCodes + int4ByteOfColumn(c)] |= static_cast<std::uint8_t>(q << int4ShiftOfColumn(c));
            }
        }
    return p;
}

GemvVqWeight packVq(std::int64_t rows, std::int64_t cols, const GemvVqShape& shape, const float* codebooks,
                    const std::int32_t* assign) {
    checkVqShape(shape);
    const VqGeometry geo(rows, cols, shape);
    GemvVqWeight p;
    p.rows = rows, p.cols = cols, p.shape = shape;
    p.colGroups = geo.colGroups, p.rowBlocks = geo.rowBlocks, p.rowBytes = geo.rowBytes;
    p.indices.assign(static_cast<std::size_t>(rows * geo.rowBytes + 16), 0);
    const int d = shape.dim, bits = shape.indexBits();
    const std::int64_t vectorsPerRow = ceilDiv(cols, d), entries = shape.entries();
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t v = 0; v < vectorsPerRow; ++v) {
            const std::int32_t a = assign[r * vectorsPerRow + v];
            if (a < 0 || a >= entries) throw Error("gemv vq: assignment " + std::to_string(a) + " out of range");
            const std::int64_t g = v * d / geo.groupCols, u = v - g * geo.groupCols / d;
            std::uint8_t* group = p.indices.data() + geo.offset(r, g);
            for (int b = 0; b < bits; ++b)
                if ((a >> b) & 1) group[(u * bits + b) / 8] |= static_cast<std::uint8_t>(1u << ((u * bits + b) % 8));
        }
    const std::size_t n = static_cast<std::size_t>(geo.rowBlocks * geo.colGroups * entries * d);
    if (shape.fp16Codebook) {
        p.codebook16.resize(n);
        std::transform(codebooks, codebooks + n, p.codebook16.begin(), f32ToF16);
    } else {
        p.codebook32.assign(codebooks, codebooks + n);
    }
    return p;
}

GemvVqWeight quantizeVq(const float* w, std::int64_t rows, std::int64_t cols, const GemvVqShape& shape) {
    checkVqShape(shape);
    const VqGeometry geo(rows, cols, shape);
    const int d = shape.dim, bits = shape.bitsPerDim, levels = 1 << bits;
    const std::int64_t entries = shape.entries(), vectorsPerRow = ceilDiv(cols, d);
    std::vector<float> books(static_cast<std::size_t>(geo.rowBlocks * geo.colGroups * entries * d));
    std::vector<std::int32_t> assign(static_cast<std::size_t>(rows * vectorsPerRow));
    for (std::int64_t rb = 0; rb < geo.rowBlocks; ++rb)
        for (std::int64_t g = 0; g < geo.colGroups; ++g) {
            const std::int64_t r0 = geo.blockStart(rb), r1 = r0 + geo.rowsIn(rb);
            const std::int64_t c0 = g * geo.groupCols, c1 = std::min(cols, c0 + geo.groupCols);
            float lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
            bool seen[4] = {false, false, false, false};
            for (std::int64_t r = r0; r < r1; ++r)
                for (std::int64_t c = c0; c < c1; ++c) {
                    const int a = static_cast<int>((c - c0) % d);
                    const float v = w[r * cols + c];
                    lo[a] = seen[a] ? std::min(lo[a], v) : v, hi[a] = seen[a] ? std::max(hi[a], v) : v, seen[a] = true;
                }
            float* book = books.data() + (rb * geo.colGroups + g) * entries * d;
            for (std::int64_t e = 0; e < entries; ++e)
                for (int a = 0; a < d; ++a) {
                    const int digit = static_cast<int>((e >> (a * bits)) & (levels - 1));
                    book[e * d + a] = lo[a] + (hi[a] - lo[a]) * static_cast<float>(digit) / static_cast<float>(levels - 1);
                }
            for (std::int64_t r = r0; r < r1; ++r)
                for (std::int64_t c = c0; c < c1; c += d) {
                    std::int32_t index = 0;
                    for (int a = 0; a < d && c + a < c1; ++a) {
                        const float span = hi[a] - lo[a];
                        const float t = span > 0 ? (w[r * cols + c + a] - lo[a]) / span * static_cast<float>(levels - 1) : 0.0f;
                        index |= static_cast<std::int32_t>(std::clamp(std::nearbyint(t), 0.0f, float(levels - 1))) << (a * bits);
                    }
                    assign[r * vectorsPerRow + c / d] = index;
                }
        }
    return packVq(rows, cols, shape, books.data(), assign.data());
}

// ---- dequantizers -----------------------------------------------------------------------------------

std::vector<float> dequantize(const GemvFp16Weight& w) {
    std::vector<float> out(static_cast<std::size_t>(w.rows * w.cols));
    for (std::int64_t r = 0; r < w.rows; ++r)
        for (std::int64_t c = 0; c < w.cols; ++c) out[r * w.cols + c] = f16ToF32(w.data[r * w.stride + c]);
    return out;
}

std::vector<float> dequantize(const GemvInt4Weight& w) {
    std::vector<float> out(static_cast<std::size_t>(w.rows * w.cols));
    const std::int64_t rowCodes = w.groups * w.groupSize / 2;
    for (std::int64_t r = 0; r < w.rows; ++r)
        for (std::int64_t c = 0; c < w.cols; ++c) {
            const std::int64_t g = r * w.groups + c / w.groupSize;
            const int q = (w.codes[r * rowCodes + int4ByteOfColumn(c)] >> int4ShiftOfColumn(c)) & 15;
            out[r * w.cols + c] = f16ToF32(w.scales[g]) * (static_cast<float>(q) - f16ToF32(w.zeros[g]));
        }
    return out;
}

std::vector<float> dequantize(const GemvVqWeight& w) {
    const VqGeometry geo = geometryOf(w);
    const int d = w.shape.dim;
    const std::int64_t entries = w.shape.entries();
    std::vector<float> out(static_cast<std::size_t>(w.rows * w.cols));
    for (std::int64_t r = 0; r < w.rows; ++r)
        for (std::int64_t c = 0; c < w.cols; c += d) {
            const std::int64_t g = c / geo.groupCols;
            const std::uint32_t e = readIndex(w.indices.data() + geo.offset(r, g), (c - g * geo.groupCols) / d,
                                              w.shape.indexBits());
            const std::int64_t at = ((r / geo.blockRows * geo.colGroups + g) * entries + e) * d;
            for (int a = 0; a < d && c + a < w.cols; ++a)
                out[r * w.cols + c + a] = w.shape.fp16Codebook ? f16ToF32(w.codebook16[at + a]) : w.codebook32[at + a];
        }
    return out;
}

// ---- kernels ----------------------------------------------------------------------------------------

void gemvReference(const float* w, std::int64_t rows, std::int64_t cols, const float* x, float* y) {
    for (std::int64_t r = 0; r < rows; ++r) {
        float s = 0;
        for (std::int64_t c = 0; c < cols; ++c) s += w[r * cols + c] * x[c];
        y[r] = s;
    }
}

void gemvF32(const float* w, std::int64_t rows, std::int64_t cols, const float* x, float* y, int threads) {
    const std::int64_t full = cols / kStep * kStep;
    const std::vector<float> xp = paddedInput(x, cols, roundUp(cols, kStep));
#pragma omp parallel for num_threads(threadCount(threads)) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = w + r * cols;
        Partials p;
        for (std::int64_t c = 0; c < full; c += kStep)
            p.add(load(row + c), load(row + c + 8), load(row + c + 16), load(row + c + 24), xp.data() + c);
        if (full < cols) {
            float tail[kStep] = {};
            std::copy(row + full, row + cols, tail);
            p.add(load(tail), load(tail + 8), load(tail + 16), load(tail + 24), xp.data() + full);
        }
        y[r] = p.sum();
    }
}

void gemvFp16(const GemvFp16Weight& w, const float* x, float* y, int threads) {
    const std::vector<float> xp = paddedInput(x, w.cols, w.stride);
#pragma omp parallel for num_threads(threadCount(threads)) schedule(static)
    for (std::int64_t r = 0; r < w.rows; ++r) {
        const std::uint16_t* row = w.data.data() + r * w.stride;
        Partials p;
        for (std::int64_t c = 0; c < w.stride; c += kStep)
            p.add(halvesToFloats(row + c), halvesToFloats(row + c + 8), halvesToFloats(row + c + 16),
                  halvesToFloats(row + c + 24), xp.data() + c);
        y[r] = p.sum();
    }
}

void gemvInt4(const GemvInt4Weight& w, const float* x, float* y, int threads) {
    const std::int64_t padded = w.groups * w.groupSize, rowCodes = padded / 2, steps = w.groupSize / kStep;
    const std::vector<float> xp = paddedInput(x, w.cols, padded);
    // Per group, the partial sums of x in the kernel's order: sum(scale * (q - zero) * x) = scale * (q.x - zero * sum x).
    std::vector<float> xSums(static_cast<std::size_t>(w.groups * kStep), 0.0f);
    for (std::int64_t g = 0; g < w.groups; ++g)
        for (std::int64_t t = 0; t < steps; ++t)
            for (std::int64_t j = 0; j < kStep; ++j) xSums[g * kStep + j] += xp[(g * steps + t) * kStep + j];
#pragma omp parallel for num_threads(threadCount(threads)) schedule(static)
    for (std::int64_t r = 0; r < w.rows; ++r) {
        const std::uint8_t* codes = w.codes.data() + r * rowCodes;
        const std::uint16_t* scales = w.scales.data() + r * w.groups;
        const std::uint16_t* zeros = w.zeros.data() + r * w.groups;
        Partials acc;
        for (std::int64_t g = 0; g < w.groups; ++g) {
            Partials dot;
            for (std::int64_t t = 0; t < steps; ++t)
                addInt4Step(codes + (g * steps + t) * kStep / 2, xp.data() + (g * steps + t) * kStep, dot);
            const F8 s = simd::splat(halfToFloat(scales[g])), z = simd::splat(halfToFloat(zeros[g]));
            const float* xs = xSums.data() + g * kStep;
            acc.a0 += s * (dot.a0 - z * load(xs));
            acc.a1 += s * (dot.a1 - z * load(xs + 8));
            acc.a2 += s * (dot.a2 - z * load(xs + 16));
            acc.a3 += s * (dot.a3 - z * load(xs + 24));
        }
        y[r] = acc.sum();
    }
}

void gemvVq(const GemvVqWeight& w, const float* x, float* y, int threads) {
    const VqGeometry geo = geometryOf(w);
    const VqTileFn tileRows = vqTileFn(w.shape);
    const int d = w.shape.dim;
    const std::int64_t bookFloats = w.shape.entries() * d;
    const std::vector<float> xp = paddedInput(x, w.cols, roundUp(w.cols, kStep));
    // Work items: up to kTaskRows rows of one row block; each decodes its tiles' codebooks once.
    std::vector<std::pair<std::int64_t, std::int64_t>> tasks; // (first row, rows)
    for (std::int64_t rb = 0; rb < geo.rowBlocks; ++rb)
        for (std::int64_t r = geo.blockStart(rb); r < geo.blockStart(rb) + geo.rowsIn(rb); r += kTaskRows)
            tasks.emplace_back(r, std::min(kTaskRows, geo.blockStart(rb) + geo.rowsIn(rb) - r));
    const auto taskCount = static_cast<std::int64_t>(tasks.size());
#pragma omp parallel num_threads(threadCount(threads))
    {
        // The tile's codebook in fp32, padded to 16 floats for the scalar look-ups' register permutes.
        std::vector<float> book(static_cast<std::size_t>(std::max<std::int64_t>(bookFloats, 16)), 0.0f);
        std::vector<Partials> acc(static_cast<std::size_t>(kTaskRows));
#pragma omp for schedule(static)
        for (std::int64_t t = 0; t < taskCount; ++t) {
            const auto [r0, n] = tasks[static_cast<std::size_t>(t)];
            const std::int64_t rb = r0 / geo.blockRows;
            std::fill(acc.begin(), acc.end(), Partials{});
            for (std::int64_t g = 0; g < geo.colGroups; ++g) {
                const std::int64_t at = (rb * geo.colGroups + g) * bookFloats;
                if (w.shape.fp16Codebook)
                    halvesToFloats(w.codebook16.data() + at, bookFloats, book.data());
                else
                    std::copy_n(w.codebook32.data() + at, bookFloats, book.data());
                tileRows(w.indices.data() + geo.offset(r0, g), n, geo.groupSteps(g), geo.groupBytes(g), book.data(),
                         xp.data() + g * geo.groupCols, acc.data());
            }
            for (std::int64_t i = 0; i < n; ++i) y[r0 + i] = acc[static_cast<std::size_t>(i)].sum();
        }
    }
}

nlohmann::json measuredDecodeEfficiency() {
    // This project's 2-core build machine (x86-64-v3, 24 GiB), 2026-12-05, load about 2 (other builds ran):
    // `build/bin/qs_bench_gemv --benchmark_filter='rows:11008' --benchmark_repetitions=3`, medians at 2 threads,
    // weight bytes per second over the read-only pass of the same bytes (56.5 GB/s; memcpy copies 10-14 GB/s,
    // so the read pass is the ceiling a streaming GEMV meets). fp16 46.4, fp32 47.2, int4 g128 13.3, int4 g32
    // 3.3-4.6 (noisy), VQ d2 b3 5.9, d4 b2 5.0, d1 b4 6.8 GB/s: on this CPU INT4 and VQ are bound by their
    // dequantisation, not by bandwidth (GPTVQ's on-device finding, VQ slower than INT4, holds here too).
    return {{"fp32", 0.84},     {"fp16", 0.82},     {"int4_g128", 0.235}, {"int4_g32", 0.07},
            {"vq_d1_b4", 0.12}, {"vq_d2_b3", 0.105}, {"vq_d4_b2", 0.089}};
}

} // namespace qs::core
