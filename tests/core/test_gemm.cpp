// SPDX-License-Identifier: MIT
// The forward pass's matrix products against a double-precision reference, and the invariances the
// evaluation relies on: the same bits for a row whether it is computed alone or in a batch, in any
// tile position, at 1 or 2 threads; the triangular shapes equal the full products where defined.
#include "tensor/avx512.h"
#include "tensor/gemm.h"
#include "base/error.h"
#include "tensor/half.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace qs::core;

namespace {

struct Mat {
    std::int64_t rows, cols;
    std::vector<float> v;
    Mat(std::int64_t r, std::int64_t c, unsigned seed = 0) : rows(r), cols(c), v(static_cast<std::size_t>(r * c)) {
        std::mt19937 rng(seed);
        std::normal_distribution<float> d(0.0f, 1.0f);
        if (seed)
            for (auto& e : v) e = d(rng);
    }
    float& at(std::int64_t r, std::int64_t c) { return v[static_cast<std::size_t>(r * cols + c)]; }
    ConstMatrixView view() const { return {v.data(), rows, cols, cols}; }
    MatrixView out() { return {v.data(), rows, cols, cols}; }
    ConstMatrixView rowsView(std::int64_t r0, std::int64_t n) const { return {v.data() + r0 * cols, n, cols, cols}; }
};

// |got - exact| within a few float32 roundings of the sum of |terms| (k up to a few thousand).
void expectClose(double got, double exact, double absSum, std::int64_t k) {
    EXPECT_NEAR(got, exact, 4.0 * static_cast<double>(k) * 6e-8 * absSum + 1e-30);
}

enum class Layout { NT, NN, TN };

// C = A·Bᵀ (NT: b [n, k]), A·B (NN: b [k, n]) or Aᵀ·B (TN: a [k, m], b [k, n]).
void multiply(Layout layout, const Mat& a, const Mat& b, Mat& c, const float* bias) {
    if (layout == Layout::NT)
        gemmNT(a.view(), b.view(), c.out(), bias);
    else if (layout == Layout::NN)
        gemmNN(a.view(), b.view(), c.out(), bias);
    else
        gemmTN(a.view(), b.view(), c.out(), bias);
}

// C = A·Bᵀ (NT: b [n, k]), A·B (NN: b [k, n]) or Aᵀ·B (TN: a [k, m], b [k, n]) against sums in double.
void checkProduct(Layout layout, std::int64_t m, std::int64_t n, std::int64_t k, bool bias) {
    const Mat a = layout == Layout::TN ? Mat(k, m, 1) : Mat(m, k, 1);
    const Mat b = layout == Layout::NT ? Mat(n, k, 2) : Mat(k, n, 2), bv(1, n, 3);
    Mat c(m, n);
    multiply(layout, a, b, c, bias ? bv.v.data() : nullptr);
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
            double s = bias ? bv.v[static_cast<std::size_t>(j)] : 0, abs = std::abs(s);
            for (std::int64_t q = 0; q < k; ++q) {
                const double aq = layout == Layout::TN ? a.v[q * m + i] : a.v[i * k + q];
                const double t = aq * (layout == Layout::NT ? b.v[j * k + q] : b.v[q * n + j]);
                s += t;
                abs += std::abs(t);
            }
            expectClose(c.at(i, j), s, abs, k);
        }
}

} // namespace

TEST(Gemm, AgainstDoubleReference) {
    // Edges of every tile (6 x 16 and 12 x 32 micro-tiles, 192 x 256 blocks), k tails (not a multiple of
    // 8, the packing's transpose step) and several k blocks (256).
    for (auto [m, n, k] : {std::tuple{1, 1, 1}, {6, 16, 8}, {7, 17, 13}, {193, 260, 64}, {5, 40, 700}, {13, 35, 513},
                           {2, 3, 0}, {25, 40, 0}})
        for (Layout layout : {Layout::NT, Layout::NN, Layout::TN})
            for (bool bias : {false, true}) {
                SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + " layout " +
                             std::to_string(static_cast<int>(layout)));
                checkProduct(layout, m, n, k, bias);
            }
}

TEST(Gemm, EveryLayoutGivesTheSameBits) {
    // One sequence per element whatever the operands' layout: A·Bᵀ = A·(Bᵀ) = (Aᵀ)ᵀ·(Bᵀ).
    const std::int64_t m = 50, n = 37, k = 300;
    const Mat a(m, k, 4), b(n, k, 5), bias(1, n, 6);
    Mat at(k, m), bt(k, n), nt(m, n), nn(m, n), tn(m, n);
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t q = 0; q < k; ++q) at.at(q, i) = a.v[i * k + q];
    for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t q = 0; q < k; ++q) bt.at(q, j) = b.v[j * k + q];
    gemmNT(a.view(), b.view(), nt.out(), bias.v.data());
    gemmNN(a.view(), bt.view(), nn.out(), bias.v.data());
    gemmTN(at.view(), bt.view(), tn.out(), bias.v.data());
    EXPECT_EQ(nt.v, nn.v);
    EXPECT_EQ(nt.v, tn.v);
}

TEST(Gemm, Avx2AndAvx512GiveTheSameBits) {
    // Where the processor has AVX-512 the products run 32 columns at a time; each element's sequence
    // is the same, so are the bits. Odd panel counts (a lone 16-column panel), column tails, several
    // k blocks and both triangular shapes. Without AVX-512 both runs take AVX2 and agree trivially.
    // Rows: 12 at a time on AVX-512 where whole tiles fit, 6 for the rest (13, 25, 200 mix both).
    for (auto [rows, columns, depth] : {std::tuple{13, 16, 300}, {7, 47, 513}, {200, 270, 600}, {5, 33, 1}, {25, 40, 257}})
        for (Layout layout : {Layout::NT, Layout::NN, Layout::TN}) {
            const std::int64_t m = rows, n = columns, k = depth; // lambdas may not capture structured bindings (clang 14)
            const Mat a = layout == Layout::TN ? Mat(k, m, 1) : Mat(m, k, 1);
            const Mat b = layout == Layout::NT ? Mat(n, k, 2) : Mat(k, n, 2), bias(1, n, 3);
            auto run = [&](bool avx512) {
                const bool saved = allowAvx512(avx512);
                Mat c(m, n);
                multiply(layout, a, b, c, bias.v.data());
                allowAvx512(saved);
                return c.v;
            };
            EXPECT_EQ(run(false), run(true)) << m << "x" << n << "x" << k << " layout " << static_cast<int>(layout);
        }
    // Products that add to C (the running sum starts at C's values).
    for (bool nn : {false, true}) {
        const std::int64_t m = 37, n = 50, k = 520;
        const Mat a(m, k, 7), b = nn ? Mat(k, n, 8) : Mat(n, k, 8), start(m, n, 9);
        auto run = [&](bool avx512) {
            const bool saved = allowAvx512(avx512);
            Mat c = start;
            nn ? gemmNNAccumulate(a.view(), b.view(), c.out()) : gemmNTAccumulate(a.view(), b.view(), c.out());
            allowAvx512(saved);
            return c.v;
        };
        EXPECT_EQ(run(false), run(true)) << "accumulate, nn " << nn;
    }
    const std::int64_t s = 300, d = 40;
    const Mat q(s, d, 4), kmat(s, d, 5), v(s, d, 6);
    auto attention = [&](bool avx512) {
        const bool saved = allowAvx512(avx512);
        Mat scores(s, s), out(s, d);
        gemmNT(q.view(), kmat.view(), scores.out(), nullptr, GemmShape::Lower);
        for (std::int64_t i = 0; i < s; ++i)
            for (std::int64_t j = i + 1; j < s; ++j) scores.at(i, j) = std::nanf("");
        gemmNN(scores.view(), v.view(), out.out(), nullptr, GemmShape::Lower);
        allowAvx512(saved);
        return out.v;
    };
    const std::vector<float> avx2 = attention(false), avx512 = attention(true);
    EXPECT_EQ(0, std::memcmp(avx2.data(), avx512.data(), avx2.size() * sizeof(float)));
}

TEST(Gemm, RowsAreTheSameAloneInABatchAndAtAnyThreadCount) {
    const std::int64_t m = 200, n = 150, k = 600;
    const Mat a(m, k, 7), b(n, k, 8), bn(k, n, 9);
    const int saved = omp_get_max_threads();
    auto run = [&](int threads, bool nn) {
        omp_set_num_threads(threads);
        Mat c(m, n);
        if (nn)
            gemmNN(a.view(), bn.view(), c.out());
        else
            gemmNT(a.view(), b.view(), c.out());
        return c.v;
    };
    for (bool nn : {false, true}) {
        const auto one = run(1, nn), two = run(2, nn);
        EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float))) << "nn " << nn;
        // Rows 37..41 alone: other tile positions, the same bits.
        omp_set_num_threads(1);
        Mat part(5, n);
        if (nn)
            gemmNN(a.rowsView(37, 5), bn.view(), part.out());
        else
            gemmNT(a.rowsView(37, 5), b.view(), part.out());
        EXPECT_EQ(0, std::memcmp(part.v.data(), one.data() + 37 * n, part.v.size() * sizeof(float))) << "nn " << nn;
    }
    omp_set_num_threads(saved);
}

TEST(Gemm, LowerShapesEqualTheFullProducts) {
    const std::int64_t s = 331, d = 32; // rows ending in each of two k blocks
    const Mat q(s, d, 10), kmat(s, d, 11), v(s, d, 12);
    Mat full(s, s), lower(s, s);
    gemmNT(q.view(), kmat.view(), full.out());
    gemmNT(q.view(), kmat.view(), lower.out(), nullptr, GemmShape::Lower);
    for (std::int64_t i = 0; i < s; ++i)
        for (std::int64_t j = 0; j <= i; ++j) ASSERT_EQ(full.at(i, j), lower.at(i, j)) << i << "," << j;
    // A triangular A: what lies above its diagonal is not read.
    Mat zeroed = full, garbage = full;
    for (std::int64_t i = 0; i < s; ++i)
        for (std::int64_t j = i + 1; j < s; ++j) {
            zeroed.at(i, j) = 0;
            garbage.at(i, j) = std::nanf("");
        }
    Mat plain(s, d), tri(s, d);
    gemmNN(zeroed.view(), v.view(), plain.out());
    gemmNN(garbage.view(), v.view(), tri.out(), nullptr, GemmShape::Lower);
    EXPECT_EQ(0, std::memcmp(plain.v.data(), tri.v.data(), plain.v.size() * sizeof(float)));
}

TEST(Gemm, StridedOperands) {
    // Column slices of wider matrices (attention heads): the stride is honoured, also by the 12-row
    // tiles' packing of A (25 rows: two of them and a 6-row tile).
    const std::int64_t m = 25;
    const Mat wide(m, 40, 13), other(11, 40, 14);
    Mat c(m, 11), ref(m, 11);
    const Mat a(m, 8, 0), b(11, 8, 0);
    Mat ac = a, bc = b;
    for (int i = 0; i < m; ++i)
        for (int q = 0; q < 8; ++q) ac.at(i, q) = wide.v[i * 40 + 16 + q];
    for (int j = 0; j < 11; ++j)
        for (int q = 0; q < 8; ++q) bc.at(j, q) = other.v[j * 40 + 16 + q];
    gemmNT({wide.v.data() + 16, m, 8, 40}, {other.v.data() + 16, 11, 8, 40}, c.out());
    gemmNT(ac.view(), bc.view(), ref.out());
    EXPECT_EQ(c.v, ref.v);
}

namespace {

// The products with B held compactly (`compact`, NT [n, k] or NN [k, n]) equal, bit for bit, the
// float32 products of `wide`: B converted element by element by the scalar reference (same layout
// and stride), on every kernel and at 1 and 2 threads; m = 13, n = 37 and k = 300 leave tails in
// every direction and cross a 256 block of k.
void expectCompactEqualsConverted(const CompactMatrixView& compact, const std::vector<float>& wide, bool nt,
                                  const std::string& label) {
    const std::int64_t m = 13, n = nt ? compact.rows : compact.cols, k = nt ? compact.cols : compact.rows;
    const Mat a(m, k, 21), bias(1, n, 22);
    Mat ref(m, n);
    const ConstMatrixView wv{wide.data(), compact.rows, compact.cols, compact.stride};
    nt ? gemmNT(a.view(), wv, ref.out(), bias.v.data()) : gemmNN(a.view(), wv, ref.out(), bias.v.data());
    for (bool avx512 : {false, true})
        for (int threads : {1, 2}) {
            const bool before = allowAvx512(avx512);
            const int t0 = omp_get_max_threads();
            omp_set_num_threads(threads);
            Mat c(m, n);
            nt ? gemmNT(a.view(), compact, c.out(), bias.v.data()) : gemmNN(a.view(), compact, c.out(), bias.v.data());
            omp_set_num_threads(t0);
            allowAvx512(before);
            for (std::size_t i = 0; i < c.v.size(); ++i)
                ASSERT_EQ(std::memcmp(&c.v[i], &ref.v[i], sizeof(float)), 0)
                    << label << (nt ? " NT" : " NN") << " avx512 " << avx512 << " threads " << threads << " at " << i;
        }
}

} // namespace

TEST(Gemm, SixteenBitOperandsEqualConvertingFirst) {
    // B in BF16 or binary16 (f16 subnormals included), strided.
    const std::int64_t n = 37, k = 300, pad = 5;
    std::mt19937 rng(23);
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (bool bf16 : {true, false})
        for (bool nt : {true, false}) {
            const std::int64_t rows = nt ? n : k, cols = nt ? k : n, stride = cols + pad;
            std::vector<std::uint16_t> half(static_cast<std::size_t>(rows * stride));
            std::vector<float> wide(half.size());
            for (std::size_t i = 0; i < half.size(); ++i) {
                const float x = d(rng) * (i % 7 == 3 ? 1e-6f : 1.0f); // 1e-6 is subnormal in binary16
                half[i] = bf16 ? f32ToBf16(x) : f32ToF16(x);
                wide[i] = bf16 ? bf16ToF32(half[i]) : f16ToF32(half[i]);
            }
            CompactMatrixView v{bf16 ? CompactMatrixView::Kind::Bf16 : CompactMatrixView::Kind::F16, half.data(), rows, cols, stride};
            expectCompactEqualsConverted(v, wide, nt, bf16 ? "bf16" : "f16");
        }
}

namespace {

// B as one-byte codes, or 4-bit ones two to a byte (`nibbles`), times a scale per run along k (int
// codes, or indices into `table` for a code book): runs of 32 (8 codes share a scale), of 12 (8 codes
// straddle two runs) and of all of k, strided (odd strides for bytes). NT runs along B's rows, NN down
// its columns (a GPT-2 Conv1D [in, out]: each column has its own scales). The reference converts each
// element by the closed form from the unpacked codes.
// A mini-float code's value by the textbook formula, in double: (-1)^s 2^(e - bias) (1 + m / 2^M), or
// 2^(1 - bias) m / 2^M for e = 0 (not the view's placement of the bits in a float32).
float miniFloatValue(int code, const MiniFloatLayout& l) {
    const int m = code & ((1 << l.mantissa) - 1), e = (code >> l.mantissa) & ((1 << l.exponent) - 1);
    const double magnitude = e == 0 ? std::ldexp(m, 1 - l.bias - l.mantissa)
                                    : std::ldexp((1 << l.mantissa) + m, e - l.bias - l.mantissa);
    return static_cast<float>(((code >> (l.exponent + l.mantissa)) & 1) != 0 ? -magnitude : magnitude);
}

// `withOffsets`: int codes with an offset per run (-120..120), as INT4 asymmetric nibbles are held.
void expectRunScaledCodesEqualConverting(CompactMatrixView::Kind kind, const float* table, bool nibbles, unsigned seed,
                                         MiniFloatLayout layout = {}, bool withOffsets = false) {
    const std::int64_t n = 37, k = 300;
    std::mt19937 rng(seed);
    const bool book = kind == CompactMatrixView::Kind::CodeBook, miniFloat = kind == CompactMatrixView::Kind::ScaledMiniFloat;
    const int lowest = book || miniFloat ? 0 : nibbles ? -8 : -128;
    const int highest = book ? CompactMatrixView::kCodeBookSize - 1 : miniFloat ? (1 << layout.bits()) - 1 : nibbles ? 7 : 127;
    std::uniform_int_distribution<int> code(lowest, highest);
    std::uniform_real_distribution<float> scale(1e-3f, 2.0f);
    for (std::int64_t run : {std::int64_t{32}, std::int64_t{12}, k})
        for (bool nt : {true, false}) {
            const std::int64_t rows = nt ? n : k, cols = nt ? k : n, runs = (k + run - 1) / run;
            const std::int64_t stride = nibbles ? cols + 2 + cols % 2 : cols + 3; // a nibble row starts on a byte
            std::vector<int> codes(static_cast<std::size_t>(rows * stride));
            for (auto& c : codes) c = code(rng);
            std::vector<std::int8_t> held(nibbles ? codes.size() / 2 : codes.size());
            for (std::size_t i = 0; i < codes.size(); ++i) {
                auto& byte = reinterpret_cast<std::uint8_t&>(held[nibbles ? i / 2 : i]);
                byte = nibbles ? static_cast<std::uint8_t>(byte | ((codes[i] & 0xF) << (i % 2 * 4))) : static_cast<std::uint8_t>(codes[i]);
            }
            std::vector<float> scales(static_cast<std::size_t>(n * runs));
            for (auto& s : scales) s = scale(rng);
            std::vector<std::int8_t> offsets(withOffsets ? scales.size() : 0);
            std::uniform_int_distribution<int> offset(-120, 120);
            for (auto& o : offsets) o = static_cast<std::int8_t>(offset(rng));
            CompactMatrixView v{kind, held.data(), rows, cols, stride, scales.data(), table};
            v.nibbles = nibbles;
            v.miniFloat = layout;
            v.offsets = withOffsets ? offsets.data() : nullptr;
            if (nt) {
                v.runCols = run;
                v.scaleRowStep = runs;
                v.scaleColStep = 1;
            } else {
                v.runRows = run;
                v.scaleRowStep = 1;
                v.scaleColStep = runs;
            }
            std::vector<float> wide(codes.size());
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t c = 0; c < cols; ++c) {
                    const std::int64_t out = nt ? r : c, along = nt ? c : r; // the weight's [out, in]
                    const int q = codes[static_cast<std::size_t>(r * stride + c)];
                    const auto k = static_cast<std::size_t>(out * runs + along / run);
                    const float element = book        ? table[q]
                                          : miniFloat ? miniFloatValue(q, layout)
                                                      : static_cast<float>(q + (withOffsets ? offsets[k] : 0));
                    wide[static_cast<std::size_t>(r * stride + c)] = element * scales[k];
                }
            expectCompactEqualsConverted(v, wide, nt,
                                         std::string(book ? "code book" : miniFloat ? "mini-float" : "int") + (nibbles ? " nibbles" : " bytes") +
                                             (withOffsets ? " with offsets" : "") + " run " + std::to_string(run));
        }
}

} // namespace

TEST(Gemm, Int8CodesTimesRunScalesEqualConvertingFirst) {
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledInt8, nullptr, false, 24);
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledInt8, nullptr, true, 26);
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledInt8, nullptr, true, 32, {}, true);
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledInt8, nullptr, false, 33, {}, true);
    const Mat a(2, 5, 1);
    Mat c(2, 4);
    const std::vector<std::int8_t> small(4 * 5);
    EXPECT_THROW(gemmNT(a.view(), CompactMatrixView{CompactMatrixView::Kind::ScaledInt8, small.data(), 4, 5, 5}, c.out()), Error);
    const std::vector<std::uint16_t> half(4 * 5);
    EXPECT_THROW(gemmNT(a.view(), CompactMatrixView{CompactMatrixView::Kind::Bf16, half.data(), 4, 6, 6}, c.out()), Error);
}

TEST(Gemm, CodeBookCodesTimesRunScalesEqualConvertingFirst) {
    // Sixteen values as NF4's are (ascending, a zero among them), but irregular, with a tiny one.
    const float table[CompactMatrixView::kCodeBookSize] = {-1.0f,  -0.6962f, -0.5251f, -0.3949f, -0.2844f, -0.1848f,
                                                           -0.091f, 0.0f,    1e-30f,   0.0796f,  0.1609f,  0.2461f,
                                                           0.3379f, 0.4407f, 0.5626f,  1.0f};
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::CodeBook, table, false, 25);
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::CodeBook, table, true, 27);
    const Mat a(2, 5, 1);
    Mat c(2, 4);
    const std::vector<std::int8_t> small(4 * 5);
    const std::vector<float> scales(4, 1.0f);
    EXPECT_THROW(gemmNT(a.view(), CompactMatrixView{CompactMatrixView::Kind::CodeBook, small.data(), 4, 5, 5, scales.data()}, c.out()),
                 Error); // no table
    CompactMatrixView oddNibbles{CompactMatrixView::Kind::ScaledInt8, small.data(), 4, 5, 5, scales.data()};
    oddNibbles.nibbles = true;
    EXPECT_THROW(gemmNT(a.view(), oddNibbles, c.out()), Error); // rows would start mid-byte
}

TEST(Gemm, MiniFloatCodesTimesRunScalesEqualConvertingFirst) {
    // Every code of FP8 E4M3 and E5M2 and FP6 E3M2 (all sign, exponent and mantissa fields, subnormals,
    // E4M3's NaN and E5M2's infinity patterns decoded as their fields say) in bytes, E2M1 in nibbles.
    const MiniFloatLayout e4m3{4, 3, 7}, e5m2{5, 2, 15}, e3m2{3, 2, 3}, e2m1{2, 1, 1};
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledMiniFloat, nullptr, false, 28, e4m3);
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledMiniFloat, nullptr, false, 29, e5m2);
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledMiniFloat, nullptr, false, 30, e3m2);
    expectRunScaledCodesEqualConverting(CompactMatrixView::Kind::ScaledMiniFloat, nullptr, true, 31, e2m1);
    for (unsigned code = 0; code < 256; ++code) // the view's own reading, element by element
        ASSERT_EQ(e4m3.decode(code), miniFloatValue(static_cast<int>(code), e4m3)) << code;
    const Mat a(2, 5, 1);
    Mat c(2, 4);
    const std::vector<std::int8_t> small(4 * 6);
    const std::vector<float> scales(4, 1.0f);
    CompactMatrixView noExponent{CompactMatrixView::Kind::ScaledMiniFloat, small.data(), 4, 5, 6, scales.data()};
    noExponent.miniFloat = {0, 3, 0};
    EXPECT_THROW(gemmNT(a.view(), noExponent, c.out()), Error);
    CompactMatrixView wideNibbles = noExponent;
    wideNibbles.miniFloat = e4m3;
    wideNibbles.nibbles = true; // 8-bit codes cannot be nibbles
    EXPECT_THROW(gemmNT(a.view(), wideNibbles, c.out()), Error);
    CompactMatrixView hugeBias = noExponent;
    hugeBias.miniFloat = {4, 3, 200}; // 2^(127 - 200) times a float32's field is no float32 scaling
    EXPECT_THROW(gemmNT(a.view(), hugeBias, c.out()), Error);
}

TEST(Gemm, ShapeMismatchIsAnError) {
    const Mat a(2, 3, 1), b(4, 5, 2);
    Mat c(2, 4);
    EXPECT_THROW(gemmNT(a.view(), b.view(), c.out()), Error);
    EXPECT_THROW(gemmNN(a.view(), b.view(), c.out()), Error);
    EXPECT_THROW(gemmTN(a.view(), b.view(), c.out()), Error);
}
