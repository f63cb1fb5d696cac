// SPDX-License-Identifier: MIT
// Quantized Linear weights held as int8 codes times run scales (or BF16) instead of float32: the
// held form must give back every input value exactly (the reference is the input itself), and a
// model holding its quantized Linears that way must compute what the same model holding them in
// float32 computes, bit for bit, in the closed-form number of bytes.
#include "data/calib_data.h"
#include "export/gguf_writer.h"
#include "io/gguf.h"
#include "experiment/builtins.h"
#include "fixture_paths.h"
#include "naive_lm.h"
#include "same_model_numbers.h"
#include "nn/causal_lm.h"
#include "nn/causal_lm_grad.h"
#include "model/model.h"
#include "formats/format_traits.h"
#include "formats/minifloat.h"
#include "quant/fake_quant.h"
#include "quant/model_quantizer.h"
#include "tensor/compact_matrix.h"
#include "tensor/half.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kRows = 6, kCols = 96;

std::vector<float> normalMatrix(std::int64_t rows, std::int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(rows * cols));
    for (float& x : v) x = d(rng);
    return v;
}

std::vector<float> quantized(const std::vector<float>& x, std::int64_t rows, std::int64_t cols, const QuantSpec& spec) {
    std::vector<float> out(x.size());
    fakeQuantize(x.data(), rows, cols, spec, out.data());
    return out;
}

std::vector<float> transposed(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
    std::vector<float> t(x.size());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) t[static_cast<std::size_t>(c * rows + r)] = x[static_cast<std::size_t>(r * cols + c)];
    return t;
}

// Every value comes back (a zero of either sign as a zero).
void expectExact(const CompactMatrix& m, const std::vector<float>& values) {
    const std::vector<float> back = m.toFloats();
    ASSERT_EQ(back.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) ASSERT_EQ(back[i], values[i]) << "at " << i;
}

} // namespace

TEST(CompactWeights, IntegerGridsBecomeInt8CodesTimesTheirRunScales) {
    // Codes of 4 bits (symmetric INT4 and below: -7..7; INT3 asymmetric: q - zero in -7..7) go two to
    // a byte; INT4 asymmetric codes q - zero reach past -8..7 where a run's zero point is not 8 (as
    // in this matrix), but span 16 values: they go two to a byte with a one-byte offset per run. INT8's
    // need a byte.
    const std::vector<float> w = normalMatrix(kRows, kCols, 3);
    struct Case {
        const char* what;
        QuantSpec spec;
        std::int64_t run; // the run of one scale: the spec's group, or the whole row per channel
        bool nibbles, offsets;
    };
    const Case cases[] = {
        {"int4 g32 sym", {FormatId::Int4, Granularity::Group, 32, true}, 32, true, false},
        {"int4 g32 asym", {FormatId::Int4, Granularity::Group, 32, false}, 32, true, true},
        {"int3 g16 asym", {FormatId::Int3, Granularity::Group, 16, false}, 16, true, false},
        {"int8 channel sym", {FormatId::Int8, Granularity::Channel, 0, true}, kCols, false, false},
        {"nvint4", {FormatId::NvInt4, Granularity::Block, 16, true}, 16, true, false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        const std::vector<float> q = quantized(w, kRows, kCols, c.spec);
        const auto m = CompactMatrix::exactly(q, kRows, kCols, false);
        ASSERT_TRUE(m.has_value());
        const CompactMatrixView v = m->view();
        EXPECT_EQ(v.kind, CompactMatrixView::Kind::ScaledInt8);
        EXPECT_EQ(v.runCols, c.run);
        EXPECT_EQ(v.nibbles, c.nibbles);
        EXPECT_EQ(v.offsets != nullptr, c.offsets);
        const std::int64_t runs = kRows * (kCols / c.run);
        EXPECT_EQ(m->bytes(), static_cast<std::size_t>(kRows * kCols / (c.nibbles ? 2 : 1) + 4 * runs + (c.offsets ? runs : 0)));
        expectExact(*m, q);

        // The same weight stored [in, out] (a GPT-2 Conv1D): runs down the columns.
        const std::vector<float> t = transposed(q, kRows, kCols);
        const auto mt = CompactMatrix::exactly(t, kCols, kRows, true);
        ASSERT_TRUE(mt.has_value());
        EXPECT_EQ(mt->view().runRows, c.run);
        EXPECT_EQ(mt->bytes(), m->bytes());
        expectExact(*mt, t);
    }
    // 8-bit asymmetric codes q - zero reach past int8 where the zero point is far from 128 (as in this
    // matrix, its values shifted by +1), but span at most 256 values: a byte each plus a one-byte
    // offset per run.
    std::vector<float> shifted = normalMatrix(kRows, kCols, 8);
    for (float& x : shifted) x += 1.0f;
    for (const auto& [spec, run] : {std::pair{QuantSpec{FormatId::Int8, Granularity::Channel, 0, false}, kCols},
                                    std::pair{QuantSpec{FormatId::Int8, Granularity::Group, 32, false}, std::int64_t{32}}}) {
        SCOPED_TRACE(spec.label());
        const std::vector<float> q = quantized(shifted, kRows, kCols, spec);
        const auto m8 = CompactMatrix::exactly(q, kRows, kCols, false);
        ASSERT_TRUE(m8.has_value());
        const CompactMatrixView v = m8->view();
        EXPECT_EQ(v.kind, CompactMatrixView::Kind::ScaledInt8);
        EXPECT_EQ(v.runCols, run);
        EXPECT_FALSE(v.nibbles);
        EXPECT_NE(v.offsets, nullptr);
        const std::int64_t runs = kRows * (kCols / run);
        EXPECT_EQ(m8->bytes(), static_cast<std::size_t>(kRows * kCols + 5 * runs));
        expectExact(*m8, q);
        const std::vector<float> t = transposed(q, kRows, kCols);
        const auto mt = CompactMatrix::exactly(t, kCols, kRows, true);
        ASSERT_TRUE(mt.has_value());
        EXPECT_EQ(mt->bytes(), m8->bytes());
        expectExact(*mt, t);
    }
    // A run of non-negative values whose codes fill 0..255 (its zero point at 0) would need an offset
    // of 128, past int8: that matrix stays float32.
    std::vector<float> nonNegative = w;
    for (float& x : nonNegative) x = std::fabs(x);
    nonNegative[0] = 0.0f;
    EXPECT_FALSE(CompactMatrix::exactly(quantized(nonNegative, kRows, kCols, {FormatId::Int8, Granularity::Channel, 0, false}),
                                        kRows, kCols, false)
                     .has_value());

    // An odd row length: each row starts on a byte, its last byte half used.
    const std::vector<float> odd = quantized(normalMatrix(kRows, 33, 7), kRows, 33, {FormatId::Int4, Granularity::Group, 32, true});
    const auto m = CompactMatrix::exactly(odd, kRows, 33, false);
    ASSERT_TRUE(m.has_value());
    EXPECT_TRUE(m->view().nibbles);
    EXPECT_EQ(m->bytes(), static_cast<std::size_t>(kRows * 17 + 4 * kRows * 2));
    expectExact(*m, odd);
}

TEST(CompactWeights, MicroscalingAndNvFp4AreOnAnIntegerLatticeToo) {
    // E2M1 elements times a power of two (MX) or a float scale (NVFP4) are codes 0..12 times half
    // that scale; a run may span several blocks when their scales fit one lattice, so only the
    // exactness and the bytes of at most one scale per block are required.
    const std::vector<float> w = normalMatrix(kRows, kCols, 4);
    for (const QuantSpec& spec : {QuantSpec{FormatId::MxFp4, Granularity::Block, 32, true},
                                  QuantSpec{FormatId::NvFp4, Granularity::Block, 16, true},
                                  QuantSpec{FormatId::MxInt8, Granularity::Block, 32, true}}) {
        SCOPED_TRACE(spec.label());
        const std::vector<float> q = quantized(w, kRows, kCols, spec);
        const auto m = CompactMatrix::exactly(q, kRows, kCols, false);
        ASSERT_TRUE(m.has_value());
        EXPECT_EQ(m->view().kind, CompactMatrixView::Kind::ScaledInt8);
        EXPECT_LE(m->bytes(), static_cast<std::size_t>(kRows * kCols + 4 * kRows * (kCols / spec.groupSize)));
        expectExact(*m, q);
    }
}

TEST(CompactWeights, CodeBookFormatsBecomeCodesIntoTheirBookTimesRunScales) {
    // NF4, SULQ, log2 and FP4 values are a code book's values times a run scale: 4 bits a value, a
    // scale per run and the 16-value table, each value given back exactly, in either layout.
    const std::vector<float> w = normalMatrix(kRows, kCols, 6);
    const auto books = smallCodeBooks(CompactMatrixView::kCodeBookSize);
    ASSERT_EQ(books.size(), 4u); // E2M1, NF4, log2, SULQ
    // log2's levels (2^-j, j <= 6) are an integer lattice too, but of codes up to 64: its book's
    // 4-bit codes are smaller. FP4 (MX, NV) likewise: E2M1 values are codes up to 12 of half a step.
    const QuantSpec specs[] = {{FormatId::Nf4, Granularity::Group, 32, true},  {FormatId::Nf4, Granularity::Group, 64, true},
                               {FormatId::Nf4, Granularity::Channel, 0, true}, {FormatId::Sulq, Granularity::Group, 16, true},
                               {FormatId::Log2, Granularity::Group, 32, true}, {FormatId::MxFp4, Granularity::Block, 32, true},
                               {FormatId::NvFp4, Granularity::Block, 16, true}};
    for (const QuantSpec& spec : specs) {
        SCOPED_TRACE(spec.label());
        const std::int64_t run = spec.granularity == Granularity::Channel ? kCols : spec.groupSize;
        const std::vector<float> q = quantized(w, kRows, kCols, spec);
        const bool lattice = spec.format != FormatId::Nf4 && spec.format != FormatId::Sulq;
        EXPECT_EQ(CompactMatrix::exactly(q, kRows, kCols, false).has_value(), lattice); // no book offered
        const auto m = CompactMatrix::exactly(q, kRows, kCols, false, books);
        ASSERT_TRUE(m.has_value());
        EXPECT_EQ(m->view().kind, CompactMatrixView::Kind::CodeBook);
        EXPECT_TRUE(m->view().nibbles);
        const std::int64_t runs = kRows * ((kCols + run - 1) / run);
        // MX's power-of-two scales may make neighbouring blocks one run: at most one scale per block.
        if (spec.format == FormatId::MxFp4)
            EXPECT_LE(m->bytes(), static_cast<std::size_t>(kRows * kCols / 2 + 4 * runs + 4 * 16));
        else
            EXPECT_EQ(m->bytes(), static_cast<std::size_t>(kRows * kCols / 2 + 4 * runs + 4 * 16));
        expectExact(*m, q);

        const std::vector<float> t = transposed(q, kRows, kCols);
        const auto mt = CompactMatrix::exactly(t, kCols, kRows, true, books);
        ASSERT_TRUE(mt.has_value());
        EXPECT_EQ(mt->view().kind, CompactMatrixView::Kind::CodeBook);
        expectExact(*mt, t);
    }
    // A value off the book (or a NaN) leaves the matrix float32; integer grids stay int8.
    std::vector<float> q = quantized(w, kRows, kCols, specs[0]);
    for (float bad : {q[40] * 1.001f, std::nanf("")}) {
        std::vector<float> withBad = q;
        withBad[40] = bad;
        EXPECT_FALSE(CompactMatrix::exactly(withBad, kRows, kCols, false, books).has_value());
    }
    // With the books offered, int grids keep their int codes: 4-bit ones (their offsets too) two to a
    // byte, INT8's a byte each (its first codes span more than 16 values, so the books are tried
    // first, and fail).
    for (const QuantSpec& spec : {QuantSpec{FormatId::Int4, Granularity::Group, 32, true}, QuantSpec{FormatId::Int4, Granularity::Group, 32, false},
                                  QuantSpec{FormatId::Int8, Granularity::Channel, 0, true}}) {
        SCOPED_TRACE(spec.label());
        const std::vector<float> q = quantized(w, kRows, kCols, spec);
        const auto m = CompactMatrix::exactly(q, kRows, kCols, false, books);
        ASSERT_TRUE(m.has_value());
        EXPECT_EQ(m->view().kind, CompactMatrixView::Kind::ScaledInt8);
        EXPECT_EQ(m->view().nibbles, spec.format == FormatId::Int4);
        EXPECT_EQ(m->view().offsets != nullptr, !spec.symmetric);
        expectExact(*m, q);
    }
}

TEST(CompactWeights, Fp8AndFp6BecomeOneByteMiniFloatCodesTimesRunScales) {
    // FP8 and FP6 values (MX blocks with power-of-two scales, scaled FP8 with float scales per group or
    // channel) are a mini-float code times a run scale: one byte a value and a scale per run, each
    // value given back exactly, in either layout.
    const std::vector<float> w = normalMatrix(kRows, kCols, 7);
    const std::vector<MiniFloatLayout> layouts = byteMiniFloatLayouts();
    ASSERT_EQ(layouts.size(), 4u); // E3M2, E2M3, then E4M3 and E5M2: fewest bits first
    EXPECT_EQ(layouts[0].bits(), 6);
    EXPECT_EQ(layouts[3].bits(), 8);
    const QuantSpec specs[] = {{FormatId::MxFp8E4M3, Granularity::Block, 32, true}, {FormatId::MxFp8E5M2, Granularity::Block, 32, true},
                               {FormatId::MxFp6E3M2, Granularity::Block, 32, true}, {FormatId::Fp8E4M3, Granularity::Group, 32, true},
                               {FormatId::Fp8E4M3, Granularity::Channel, 0, true},  {FormatId::Fp8E5M2, Granularity::Group, 16, true},
                               {FormatId::Fp6E3M2, Granularity::Group, 32, true}};
    for (const QuantSpec& spec : specs) {
        SCOPED_TRACE(spec.label());
        const std::int64_t run = spec.granularity == Granularity::Channel ? kCols : spec.groupSize;
        const std::vector<float> q = quantized(w, kRows, kCols, spec);
        const auto m = CompactMatrix::exactly(q, kRows, kCols, false, {}, layouts);
        ASSERT_TRUE(m.has_value());
        EXPECT_EQ(m->view().kind, CompactMatrixView::Kind::ScaledMiniFloat);
        EXPECT_FALSE(m->view().nibbles);
        const std::int64_t runs = kRows * ((kCols + run - 1) / run);
        // MX's power-of-two scales may make neighbouring blocks one run: at most one scale per block.
        if (formatTraits(spec.format).fixedBlock)
            EXPECT_LE(m->bytes(), static_cast<std::size_t>(kRows * kCols + 4 * runs));
        else
            EXPECT_EQ(m->bytes(), static_cast<std::size_t>(kRows * kCols + 4 * runs));
        expectExact(*m, q);

        const std::vector<float> t = transposed(q, kRows, kCols);
        const auto mt = CompactMatrix::exactly(t, kCols, kRows, true, {}, layouts);
        ASSERT_TRUE(mt.has_value());
        EXPECT_EQ(mt->view().kind, CompactMatrixView::Kind::ScaledMiniFloat);
        expectExact(*mt, t);
    }
    // FP6 E2M3 values are eighths up to 7.5: an integer lattice, held as int codes.
    const auto e2m3 = CompactMatrix::exactly(quantized(w, kRows, kCols, {FormatId::MxFp6E2M3, Granularity::Block, 32, true}),
                                             kRows, kCols, false, {}, layouts);
    ASSERT_TRUE(e2m3.has_value());
    EXPECT_EQ(e2m3->view().kind, CompactMatrixView::Kind::ScaledInt8);
    // A value off the grid (or a NaN) leaves the matrix float32.
    const std::vector<float> q = quantized(w, kRows, kCols, specs[3]);
    for (float bad : {q[40] * 1.001f, std::nanf("")}) {
        std::vector<float> withBad = q;
        withBad[40] = bad;
        EXPECT_FALSE(CompactMatrix::exactly(withBad, kRows, kCols, false, {}, layouts).has_value());
    }
    EXPECT_FALSE(CompactMatrix::exactly(w, kRows, kCols, false, {}, layouts).has_value()); // plain float32
}

TEST(CompactWeights, MiniFloatLayoutsDecodeToTheirFormatsGrids) {
    // Each layout's codes, read as the products read them, are its format's element grid (the table's
    // own list), beside the patterns the format spends on NaN or infinity (above its largest value).
    for (const FormatTraits& f : formatTable()) {
        if (!f.element || f.kind == FormatKind::Cast) continue;
        SCOPED_TRACE(std::string(f.name));
        const MiniFloatLayout layout{static_cast<std::uint8_t>(f.element->ebits), static_cast<std::uint8_t>(f.element->mbits),
                                     static_cast<std::uint8_t>(f.element->bias)};
        std::vector<float> decoded;
        for (unsigned code = 0; code < (1u << layout.bits()); ++code)
            if (const float v = layout.decode(code); std::fabs(v) <= f.element->maxValue) decoded.push_back(v + 0.0f); // -0 as 0
        std::sort(decoded.begin(), decoded.end());
        decoded.erase(std::unique(decoded.begin(), decoded.end()), decoded.end());
        EXPECT_EQ(decoded, elementGrid(f));
    }
}

TEST(CompactWeights, OffLatticeValuesStayFloat32OrBf16) {
    const std::vector<float> w = normalMatrix(kRows, kCols, 5);
    // NF4's levels are no lattice (and no book is offered here).
    EXPECT_FALSE(CompactMatrix::exactly(quantized(w, kRows, kCols, {FormatId::Nf4, Granularity::Group, 32, true}), kRows, kCols,
                                        false)
                     .has_value());
    EXPECT_FALSE(CompactMatrix::exactly(w, kRows, kCols, false).has_value()); // plain float32

    // BF16 values (a BF16 checkpoint's weight scaled by a power of two) are held in BF16.
    std::vector<float> bf16(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) bf16[i] = bf16ToF32(f32ToBf16(w[i])) * 0.5f;
    const auto m = CompactMatrix::exactly(bf16, kRows, kCols, false);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->view().kind, CompactMatrixView::Kind::Bf16);
    EXPECT_EQ(m->bytes(), w.size() * 2);
    expectExact(*m, bf16);

    // A NaN or an infinity is on no grid; a zero matrix is; -0 comes back as a zero.
    std::vector<float> q = quantized(w, kRows, kCols, {FormatId::Int4, Granularity::Group, 32, true});
    for (float bad : {std::nanf(""), INFINITY}) {
        std::vector<float> withBad = q;
        withBad[40] = bad;
        EXPECT_FALSE(CompactMatrix::exactly(withBad, kRows, kCols, false).has_value());
    }
    const std::vector<float> zeros(w.size(), 0.0f);
    const auto z = CompactMatrix::exactly(zeros, kRows, kCols, false);
    ASSERT_TRUE(z.has_value());
    expectExact(*z, zeros);
    q[7] = -0.0f;
    const auto withNegativeZero = CompactMatrix::exactly(q, kRows, kCols, false);
    ASSERT_TRUE(withNegativeZero.has_value());
    expectExact(*withNegativeZero, q);

    // Forbidden, nothing is compact.
    const bool before = allowCompactWeights(false);
    EXPECT_FALSE(CompactMatrix::exactly(zeros, kRows, kCols, false).has_value());
    allowCompactWeights(before);
}

TEST(CompactWeights, QuantizedLinearsHeldAsCodesGiveTheFloat32Numbers) {
    // Every Linear of a tiny Llama (F32 checkpoint) and GPT-2 (Conv1D [in, out], BF16 checkpoint)
    // replaced by its RTN int4 group-32 quantization (4-bit int codes), NF4 group-32 one (4-bit
    // code-book codes), FP8 E4M3 group-32 one (one-byte mini-float codes) or INT8 asymmetric group-32
    // one (one-byte int codes and an offset per run); compared with the same replacement held in
    // float32: logits, batches, a derived model, layer by layer, gradients.
    for (const QuantSpec& spec : {QuantSpec{FormatId::Int4, Granularity::Group, 32, true},
                                  QuantSpec{FormatId::Nf4, Granularity::Group, 32, true},
                                  QuantSpec{FormatId::Fp8E4M3, Granularity::Group, 32, true},
                                  QuantSpec{FormatId::Int8, Granularity::Group, 32, false}}) {
        SCOPED_TRACE(spec.label());
        const std::size_t tableBytes = spec.format == FormatId::Nf4 ? 4 * 16 : 0;
        const bool byteCodes = spec.format == FormatId::Fp8E4M3 || spec.format == FormatId::Int8;
        const std::size_t runBytes = spec.format == FormatId::Int8 ? 5 : 4; // scale (and offset)
        std::vector<std::vector<std::int32_t>> w(2, std::vector<std::int32_t>(12));
        for (std::size_t k = 0; k < w.size(); ++k)
            for (std::size_t i = 0; i < 12; ++i) w[k][i] = static_cast<std::int32_t>((i * 7 + k * 3 + 2) % 40);
        const std::vector<std::span<const std::int32_t>> spans(w.begin(), w.end());
        for (const char* type : {"llama", "gpt2"}) {
            SCOPED_TRACE(type);
            qs::test::TinySpec tiny;
            tiny.modelType = type;
            if (tiny.modelType == "gpt2") tiny.matrixDtype = DType::BF16;
            const fs::path dir = qs::test::outputDir(std::string("compact_weights_") + type);
            qs::test::writeTinyModel(dir, tiny);
            const auto model = openModel(dir);
            const CausalLm base(*model);

            // Each Linear quantized along `in`, in its stored layout; the bytes it is held in.
            std::map<std::string, std::vector<float>> q;
            std::size_t floatBytes = 0, compactBytes = 0;
            std::map<int, std::map<std::string, std::vector<float>>> byLayer;
            for (int l = 0; l < base.numLayers(); ++l)
                for (const LinearInputSite& site : base.layerSites(l))
                    for (const std::string& name : site.weights) {
                        const WeightInfo& info = *model->find(name);
                        const std::int64_t out = info.matrixRows(), in = info.matrixCols();
                        std::vector<float> values = quantized(model->weightAsOutIn(info), out, in, spec);
                        if (info.transposed) values = transposed(values, out, in);
                        floatBytes += values.size() * 4;
                        compactBytes += (byteCodes ? values.size() : values.size() / 2) +
                                        runBytes * static_cast<std::size_t>(out * ((in + 31) / 32)) + tableBytes;
                        q[name] = values;
                        byLayer[l][name] = values;
                    }
            const bool before = allowCompactWeights(false);
            const CausalLm floats(*model, q), floatsDerived(base, q);
            allowCompactWeights(before);
            const CausalLm codes(*model, q), codesDerived(base, q);

            EXPECT_EQ(codes.weightBytes() + floatBytes, floats.weightBytes() + compactBytes);
            EXPECT_EQ(codesDerived.weightBytes(), floatsDerived.weightBytes() - floatBytes + compactBytes);
            EXPECT_TRUE(codes.forward(w[0]) == floats.forward(w[0]));
            EXPECT_TRUE(codesDerived.forward(w[1]) == floats.forward(w[1]));
            const auto a = codes.forwardBatch(spans), b = floats.forwardBatch(spans);
            for (std::size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(a[k] == b[k]) << "window " << k;
            EXPECT_FALSE(codes.forward(w[0]) == base.forward(w[0]));

            EXPECT_TRUE(qs::test::layerByLayerLogits(*model, w[0], byLayer) == floats.forward(w[0]));
            qs::test::expectSameGradients(codes, floats, spans);
        }
    }
}

TEST(CompactWeights, QuantizeModelInstallsEachWeightAsItIsMade) {
    // quantizeModel(install = a model sharing the reference's weights) gives the model that its kept
    // float32 map gives, bit for bit, for a data-free method, a calibrated one and a transform, and
    // keeps no map; its onWeight observer sees each weight of that map once, with the same values.
    const fs::path dir = qs::test::outputDir("compact_weights_install");
    qs::test::writeTinyModel(dir, {});
    const auto model = openModel(dir);
    const CalibrationData calibration = qs::test::tinyWindows();
    Registries reg;
    registerBuiltins(reg);
    const CausalLm reference(*model);
    const std::vector<std::int32_t> window = calibration.windows[0];
    std::vector<QuantJob> jobs(3);
    jobs[0].spec = QuantSpec{FormatId::Int4, Granularity::Group, 32, true};
    jobs[1].method = "gptq";
    jobs[1].spec = QuantSpec{FormatId::Int4, Granularity::Group, 16, false};
    jobs[2].spec = QuantSpec{FormatId::Int8, Granularity::Channel, 0, true};
    jobs[2].transforms = {TransformStep{"rotate"}};
    for (const QuantJob& job : jobs) {
        SCOPED_TRACE(job.toJson().dump());
        ModelQuantResult kept = quantizeModel(*model, reg, job, {}, true, {}, &calibration);
        const std::map<std::string, std::vector<float>> keptWeights = kept.weights;
        CausalLm expected(reference, std::move(kept.weights));
        expected.setHooks(kept.hooks({}));
        CausalLm installed(reference, {});
        std::map<std::string, std::vector<float>> observed; // onWeight sees what the kept map holds
        const WeightObserver observe = [&](const std::string& name, const std::vector<float>& values) {
            EXPECT_TRUE(observed.emplace(name, values).second) << name << " seen twice";
        };
        const ModelQuantResult made = quantizeModel(*model, reg, job, {}, false, {}, &calibration, &installed, observe);
        installed.setHooks(made.hooks({}));
        EXPECT_TRUE(made.weights.empty());
        EXPECT_TRUE(observed == keptWeights);
        EXPECT_EQ(made.bitsPerWeight, kept.bitsPerWeight);
        EXPECT_TRUE(installed.forward(window) == expected.forward(window));
        EXPECT_FALSE(installed.forward(window) == reference.forward(window));
    }
}

TEST(CompactWeights, GgufBlockTypesAreHeldAsTheirCodes) {
    // A GGUF whose matrices are Q8_0 or Q4_0 (d * q per block of 32, d a binary16 value) is read as
    // float32 and held as those codes: one byte (Q8_0) or 4 bits (Q4_0) a value and a scale per block,
    // as its quantized Linears' closed form says, computing what the same model holding them in
    // float32 computes, bit for bit (whole, layer by layer, gradients). ggml's Q4_0 d takes the sign
    // of the block's largest magnitude, so against a positive run scale its codes are q - 8 or 8 - q
    // (-7..8): an offset per run brings them into 4 bits. A float32 checkpoint's Linears stay float32.
    const fs::path dir = qs::test::outputDir("compact_weights_gguf");
    const auto src = openModel(qs::test::tinyLlama());
    std::vector<std::int32_t> window(16);
    for (std::size_t i = 0; i < window.size(); ++i) window[i] = static_cast<std::int32_t>((i * 11 + 3) % 500);
    for (GgufType type : {GgufType::Q8_0, GgufType::Q4_0}) {
        SCOPED_TRACE(ggufTypeName(static_cast<std::uint32_t>(type)));
        const fs::path path = dir / (std::string(ggufTypeTraits(type).name) + ".gguf");
        writeGgufModel(*src, path, {type, {}});
        const auto model = openModel(path);
        const bool before = allowCompactWeights(false);
        const CausalLm floats(*model);
        allowCompactWeights(before);
        const CausalLm codes(*model);
        std::size_t floatBytes = 0, compactBytes = 0;
        for (int l = 0; l < codes.numLayers(); ++l)
            for (const LinearInputSite& site : codes.layerSites(l))
                for (const std::string& name : site.weights) {
                    const std::size_t n = static_cast<std::size_t>(numel(model->find(name)->shape));
                    floatBytes += 4 * n;
                    compactBytes += (type == GgufType::Q8_0 ? n : n / 2 + n / 32) + 4 * (n / 32);
                }
        EXPECT_EQ(codes.weightBytes() + floatBytes, floats.weightBytes() + compactBytes);
        EXPECT_TRUE(codes.forward(window) == floats.forward(window));
        // Layer by layer (eval --low-memory), each layer's Linears found as codes as it is loaded; and
        // the gradients.
        EXPECT_TRUE(qs::test::layerByLayerLogits(*model, window) == floats.forward(window));
        const std::vector<std::span<const std::int32_t>> spans{window};
        qs::test::expectSameGradients(codes, floats, spans);
    }
    const bool before = allowCompactWeights(false);
    const CausalLm floats(*src);
    allowCompactWeights(before);
    EXPECT_EQ(CausalLm(*src).weightBytes(), floats.weightBytes());
}
