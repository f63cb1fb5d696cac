// SPDX-License-Identifier: MIT
// The decode GEMV kernels (cost/gemv_kernels.h) against float32 references on their dequantized weights:
// fp32, fp16 and VQ give the exact bits of the documented summation order, INT4 agrees within rounding, and
// every kernel gives identical bits at 1, 2 and 3 threads. Plus the packers' round trips and stored sizes.
#include "cost/gemv_kernels.h"
#include "base/error.h"
#include "tensor/half.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace qs::core;

namespace {

std::vector<float> randomMatrix(std::int64_t n, unsigned seed, float sigma = 0.02f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& e : v) e = d(rng);
    return v;
}

// The header's summation order written out plainly: column c into partial c mod 32, then the fixed tree.
std::vector<float> orderedGemv(const std::vector<float>& w, std::int64_t rows, std::int64_t cols,
                               const std::vector<float>& x) {
    std::vector<float> y(static_cast<std::size_t>(rows));
    for (std::int64_t r = 0; r < rows; ++r) {
        float p[32] = {};
        for (std::int64_t c = 0; c < cols; ++c) {
            const float product = w[r * cols + c] * x[c];
            p[c % 32] += product;
        }
        float l[8];
        for (int i = 0; i < 8; ++i) l[i] = (p[i] + p[i + 8]) + (p[i + 16] + p[i + 24]);
        y[r] = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
    }
    return y;
}

std::vector<float> reference(const std::vector<float>& w, std::int64_t rows, std::int64_t cols,
                             const std::vector<float>& x) {
    std::vector<float> y(static_cast<std::size_t>(rows));
    gemvReference(w.data(), rows, cols, x.data(), y.data());
    return y;
}

// Runs `kernel(x, y, threads)` at 1, 2 and 3 threads; the results must be bit-identical.
template <typename Kernel>
std::vector<float> runAllThreadCounts(std::int64_t rows, const Kernel& kernel) {
    std::vector<float> y1(static_cast<std::size_t>(rows)), y(y1.size());
    kernel(y1.data(), 1);
    for (int threads : {2, 3}) {
        std::fill(y.begin(), y.end(), -1.0f);
        kernel(y.data(), threads);
        EXPECT_EQ(0, std::memcmp(y.data(), y1.data(), y.size() * sizeof(float))) << threads << " threads";
    }
    return y1;
}

// |a - b| small against the sum of |terms|.
void expectClose(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& w,
                 std::int64_t cols, const std::vector<float>& x, double rel) {
    for (std::size_t r = 0; r < a.size(); ++r) {
        double mag = 0;
        for (std::int64_t c = 0; c < cols; ++c) mag += std::fabs(w[r * cols + c] * x[c]);
        EXPECT_NEAR(a[r], b[r], rel * mag + 1e-30) << "row " << r;
    }
}

struct Size {
    std::int64_t rows, cols;
};
// Odd sizes: partial 32-column steps, partial groups and codebook tiles, fewer rows than threads.
const Size kSizes[] = {{37, 75}, {70, 300}, {2, 33}, {129, 41}, {16, 512}};

} // namespace

TEST(CostGemv, F32MatchesTheOrderedReferenceBitForBit) {
    unsigned seed = 1;
    for (const Size s : kSizes) {
        const auto w = randomMatrix(s.rows * s.cols, seed++), x = randomMatrix(s.cols, seed++, 1.0f);
        const auto y = runAllThreadCounts(s.rows, [&](float* out, int t) {
            gemvF32(w.data(), s.rows, s.cols, x.data(), out, t);
        });
        EXPECT_EQ(y, orderedGemv(w, s.rows, s.cols, x));
        expectClose(y, reference(w, s.rows, s.cols, x), w, s.cols, x, 1e-6);
    }
}

TEST(CostGemv, Fp16KernelIsTheF32KernelOnItsDequantizedWeights) {
    unsigned seed = 10;
    for (const Size s : kSizes) {
        const auto w = randomMatrix(s.rows * s.cols, seed++), x = randomMatrix(s.cols, seed++, 1.0f);
        const GemvFp16Weight p = packFp16(w.data(), s.rows, s.cols);
        EXPECT_EQ(p.stride % 32, 0);
        EXPECT_EQ(p.storedBytes(), s.rows * p.stride * 2);
        const auto dq = dequantize(p);
        for (std::size_t i = 0; i < w.size(); ++i) ASSERT_EQ(dq[i], f16ToF32(f32ToF16(w[i])));
        const auto y = runAllThreadCounts(s.rows, [&](float* out, int t) { gemvFp16(p, x.data(), out, t); });
        EXPECT_EQ(y, orderedGemv(dq, s.rows, s.cols, x));
        expectClose(y, reference(dq, s.rows, s.cols, x), dq, s.cols, x, 1e-6);
    }
}

TEST(CostGemv, Int4KernelAgreesWithTheReferenceOnDequantizedWeights) {
    unsigned seed = 20;
    for (int groupSize : {32, 128})
        for (const Size s : kSizes) {
            auto w = randomMatrix(s.rows * s.cols, seed++);
            w[0] = 0.5f; // an outlier: one wide group
            const auto x = randomMatrix(s.cols, seed++, 1.0f);
            const GemvInt4Weight p = packInt4(w.data(), s.rows, s.cols, groupSize);
            const std::int64_t groups = (s.cols + groupSize - 1) / groupSize;
            EXPECT_EQ(p.groups, groups);
            EXPECT_EQ(p.storedBytes(), s.rows * groups * (groupSize / 2 + 4)); // codes + fp16 scale and zero
            const auto dq = dequantize(p);
            for (std::int64_t r = 0; r < s.rows; ++r)
                for (std::int64_t c = 0; c < s.cols; ++c) {
                    const float scale = f16ToF32(p.scales[r * groups + c / groupSize]);
                    ASSERT_LE(std::fabs(dq[r * s.cols + c] - w[r * s.cols + c]), 0.6f * scale) << r << "," << c;
                }
            const auto y = runAllThreadCounts(s.rows, [&](float* out, int t) { gemvInt4(p, x.data(), out, t); });
            // scale * (q.x - zero * sum x) rounds differently from sum(scale * (q - zero) * x): bound by the
            // magnitudes both forms add, scale * (q + zero) * |x|.
            std::vector<float> mags(dq.size());
            const std::int64_t rowCodes = groups * groupSize / 2;
            for (std::int64_t r = 0; r < s.rows; ++r)
                for (std::int64_t c = 0; c < s.cols; ++c) {
                    const std::int64_t g = r * groups + c / groupSize, b = c / 32 * 16 + c % 16;
                    const int q = (p.codes[r * rowCodes + b] >> (c % 32 < 16 ? 0 : 4)) & 15;
                    mags[r * s.cols + c] = f16ToF32(p.scales[g]) * (q + f16ToF32(p.zeros[g]));
                    ASSERT_EQ(dq[r * s.cols + c], f16ToF32(p.scales[g]) * (q - f16ToF32(p.zeros[g])));
                }
            expectClose(y, reference(dq, s.rows, s.cols, x), mags, s.cols, x, 2e-6);
        }
}

TEST(CostGemv, Int4StoresTheNibblesInQ4OrderAndRejectsOddGroups) {
    std::vector<float> w(32);
    for (int c = 0; c < 32; ++c) w[c] = static_cast<float>(c % 16); // range [0, 15]: scale 1, zero 0, q = w
    const GemvInt4Weight p = packInt4(w.data(), 1, 32, 32);
    EXPECT_EQ(f16ToF32(p.scales[0]), 1.0f);
    EXPECT_EQ(f16ToF32(p.zeros[0]), 0.0f);
    for (int b = 0; b < 16; ++b) EXPECT_EQ(p.codes[b], b | (b << 4)) << b; // byte b: column b low, column b+16 high
    EXPECT_THROW(packInt4(w.data(), 1, 32, 48), Error);
    EXPECT_THROW(packInt4(w.data(), 1, 32, 16), Error);
}

TEST(CostGemv, VqPackerRoundTripsEveryShapeAndTheKernelMatchesBitForBit) {
    unsigned seed = 40;
    const int maxBits[] = {0, 8, 6, 0, 3}; // by dim: bits * dim <= 12
    for (int dim : {1, 2, 4})
        for (int bits = 1; bits <= maxBits[dim]; ++bits)
            for (bool fp16 : {true, false}) {
                const Size s = kSizes[seed % 5];
                GemvVqShape shape;
                shape.dim = dim, shape.bitsPerDim = bits, shape.fp16Codebook = fp16;
                shape.colsPerCodebook = 64, shape.rowsPerCodebook = 5 + seed % 7;
                const std::int64_t groups = (s.cols + 63) / 64, blocks = (s.rows + shape.rowsPerCodebook - 1) / shape.rowsPerCodebook;
                const std::int64_t vectors = (s.cols + dim - 1) / dim, entries = shape.entries();
                const auto books = randomMatrix(blocks * groups * entries * dim, seed++);
                std::mt19937 rng(seed++);
                std::vector<std::int32_t> assign(static_cast<std::size_t>(s.rows * vectors));
                for (auto& a : assign) a = static_cast<std::int32_t>(rng() % entries);
                const GemvVqWeight p = packVq(s.rows, s.cols, shape, books.data(), assign.data());
                SCOPED_TRACE("dim " + std::to_string(dim) + " bits " + std::to_string(bits) + (fp16 ? " fp16" : " fp32"));
                // Dequantized = the assigned entry's components (a short last vector its first ones).
                const auto dq = dequantize(p);
                for (std::int64_t r = 0; r < s.rows; ++r)
                    for (std::int64_t c = 0; c < s.cols; ++c) {
                        const std::int64_t book = (r / shape.rowsPerCodebook) * groups + c / 64;
                        const float e = books[(book * entries + assign[r * vectors + c / dim]) * dim + c % dim];
                        ASSERT_EQ(dq[r * s.cols + c], fp16 ? f16ToF32(f32ToF16(e)) : e) << r << "," << c;
                    }
                std::int64_t rowBytes = 0; // whole 32-column steps per group, 4 * bits bytes each
                for (std::int64_t g = 0; g < groups; ++g) rowBytes += (std::min<std::int64_t>(64, s.cols - g * 64) + 31) / 32 * 4 * bits;
                const std::int64_t indexBytes = s.rows * rowBytes;
                EXPECT_EQ(p.storedBytes(), indexBytes + blocks * groups * entries * dim * (fp16 ? 2 : 4));
                const auto x = randomMatrix(s.cols, seed++, 1.0f);
                const auto y = runAllThreadCounts(s.rows, [&](float* out, int t) { gemvVq(p, x.data(), out, t); });
                EXPECT_EQ(y, orderedGemv(dq, s.rows, s.cols, x));
                expectClose(y, reference(dq, s.rows, s.cols, x), dq, s.cols, x, 1e-6);
            }
}

TEST(CostGemv, VqStoredBitsOfGptvqSettings) {
    // Bits per weight = index bits / dim + codebook bits / tile weights (fp16 entries).
    const auto w = randomMatrix(256 * 512, 3);
    const auto bpw = [&](int dim, int bits, std::int64_t rowsPerCodebook) {
        GemvVqShape shape;
        shape.dim = dim, shape.bitsPerDim = bits, shape.colsPerCodebook = 256, shape.rowsPerCodebook = rowsPerCodebook;
        return quantizeVq(w.data(), 256, 512, shape).storedBytes() * 8.0 / (256 * 512);
    };
    EXPECT_DOUBLE_EQ(bpw(2, 2, 16), 2.0 + 16 * 2 * 16 / 4096.0);    // 2D, 16 entries: 2.125
    EXPECT_DOUBLE_EQ(bpw(2, 3, 64), 3.0 + 64 * 2 * 16 / 16384.0);   // 2D, 64 entries: 3.125
    EXPECT_DOUBLE_EQ(bpw(4, 2, 256), 2.0 + 256 * 4 * 16 / 65536.0); // 4D, 256 entries: 2.25
    EXPECT_DOUBLE_EQ(bpw(1, 3, 8), 3.0 + 8 * 16 / 2048.0);          // scalar, 8 levels: 3.0625
}

TEST(CostGemv, QuantizeVqRoundsToTheNearestGridLevel) {
    const Size s{40, 100};
    const auto w = randomMatrix(s.rows * s.cols, 5);
    for (int dim : {1, 2, 4}) {
        GemvVqShape shape;
        shape.dim = dim, shape.bitsPerDim = dim == 4 ? 2 : 3, shape.colsPerCodebook = 64, shape.rowsPerCodebook = 8;
        shape.fp16Codebook = false;
        const auto dq = dequantize(quantizeVq(w.data(), s.rows, s.cols, shape));
        const float levels = static_cast<float>((1 << shape.bitsPerDim) - 1);
        for (std::int64_t r = 0; r < s.rows; ++r)
            for (std::int64_t c = 0; c < s.cols; ++c) {
                // Half a grid step of the tile's range in this vector component.
                const std::int64_t r0 = r / 8 * 8, c0 = c / 64 * 64;
                float lo = 1e30f, hi = -1e30f;
                for (std::int64_t rr = r0; rr < std::min(s.rows, r0 + 8); ++rr)
                    for (std::int64_t cc = c0 + (c - c0) % dim; cc < std::min(s.cols, c0 + 64); cc += dim)
                        lo = std::min(lo, w[rr * s.cols + cc]), hi = std::max(hi, w[rr * s.cols + cc]);
                ASSERT_LE(std::fabs(dq[r * s.cols + c] - w[r * s.cols + c]), 0.5f * (hi - lo) / levels * 1.0001f)
                    << dim << ": " << r << "," << c;
            }
    }
}

TEST(CostGemv, VqRejectsShapesTheLayoutCannotHold) {
    const auto w = randomMatrix(8 * 100, 6);
    std::vector<std::int32_t> assign(8 * 100, 0);
    GemvVqShape shape;
    shape.dim = 3;
    EXPECT_THROW(quantizeVq(w.data(), 8, 100, shape), Error);
    shape.dim = 4, shape.bitsPerDim = 4; // 16-bit indices
    EXPECT_THROW(quantizeVq(w.data(), 8, 100, shape), Error);
    shape.dim = 2, shape.bitsPerDim = 2, shape.colsPerCodebook = 48; // several groups, not whole 32-column steps
    EXPECT_THROW(quantizeVq(w.data(), 8, 100, shape), Error);
    shape.colsPerCodebook = 100; // one group covering every column: fine
    EXPECT_NO_THROW(quantizeVq(w.data(), 8, 100, shape));
    shape.dim = 1;
    assign[3] = 16; // 4-bit indices hold 0..15
    std::vector<float> books(16);
    EXPECT_THROW(packVq(8, 100, shape, books.data(), assign.data()), Error);
}

// The decode model's cpu-2core profile reads these layouts; each a fraction of the read bandwidth.
TEST(CostGemv, MeasuredEfficienciesCoverTheLayoutsDecodeReads) {
    const auto e = measuredDecodeEfficiency();
    for (const char* key : {"fp16", "int4_g128", "vq_d2_b3"}) {
        ASSERT_TRUE(e.contains(key)) << key;
        EXPECT_GT(e[key].get<double>(), 0.0) << key;
        EXPECT_LE(e[key].get<double>(), 1.0) << key;
    }
}
