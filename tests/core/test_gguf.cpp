// SPDX-License-Identifier: MIT
// GGUF: block dequantization against hand-built blocks, ggml's reference quantizers, the llama model
// view (names, config, q/k un-permutation), the writer round trip, and malformed files.
#include "export/gguf_writer.h"
#include "fixture_paths.h"
#include "io/file_util.h"
#include "io/gguf.h"
#include "io/npy.h"
#include "model/gguf_model.h"
#include "nn/causal_lm.h"
#include "base/error.h"
#include "tensor/compact_matrix.h"
#include "tensor/gemm.h"
#include "tensor/half.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

fs::path testDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return qs::test::outputDir(std::string("gguf_") + info->name());
}

template <class F> void expectError(F&& f, std::initializer_list<const char*> parts) {
    try {
        f();
        ADD_FAILURE() << "no Error thrown";
    } catch (const Error& e) {
        for (const char* p : parts)
            EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " / " << p;
    }
}

void putU16(std::vector<std::byte>& b, std::size_t at, std::uint16_t v) {
    std::memcpy(b.data() + at, &v, 2);
}

std::vector<float> dequant(GgufType t, const std::vector<std::byte>& block, std::int64_t n) {
    std::vector<float> y(static_cast<std::size_t>(n));
    ggufTypeTraits(t).dequantize(block.data(), y.data(), n);
    return y;
}

// Deterministic bytes for hand-built K blocks.
std::vector<std::byte> pseudoBytes(std::size_t n, std::uint32_t seed) {
    std::vector<std::byte> b(n);
    for (auto& x : b) {
        seed = seed * 1664525u + 1013904223u;
        x = static_cast<std::byte>(seed >> 24);
    }
    return b;
}
std::uint8_t u8(const std::vector<std::byte>& b, std::size_t i) {
    return static_cast<std::uint8_t>(b[i]);
}

// Packs eight 6-bit scales and mins as ggml's quantize_row_q4_K_ref does.
void packScalesK4(std::vector<std::byte>& b, std::size_t at, const int sc[8], const int mn[8]) {
    std::uint8_t s[12] = {};
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j] = static_cast<std::uint8_t>(sc[j]);
            s[j + 4] = static_cast<std::uint8_t>(mn[j]);
        } else {
            s[j + 4] = static_cast<std::uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            s[j - 4] |= static_cast<std::uint8_t>((sc[j] >> 4) << 6);
            s[j] |= static_cast<std::uint8_t>((mn[j] >> 4) << 6);
        }
    }
    std::memcpy(b.data() + at, s, 12);
}

// ---- a tiny hand-made GGUF writer for malformed files ---------------------------------------------

struct Bytes {
    std::vector<std::byte> b;
    template <class T> Bytes& put(T v) {
        const auto* p = reinterpret_cast<const std::byte*>(&v);
        b.insert(b.end(), p, p + sizeof v);
        return *this;
    }
    Bytes& str(const std::string& s) {
        put<std::uint64_t>(s.size());
        for (char c : s)
            b.push_back(static_cast<std::byte>(c));
        return *this;
    }
    Bytes& pad(std::size_t a) {
        while (b.size() % a)
            b.push_back(std::byte{0});
        return *this;
    }
    void save(const fs::path& p) const {
        std::ofstream f(p, std::ios::binary);
        f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
};

struct HandFile {
    std::uint32_t magic = 0x46554747; // "GGUF"
    std::uint32_t version = 3;
    std::uint64_t tensorCount = 1;
    std::uint64_t kvCount = 1;
    std::uint64_t nameLength = 1; // of "w"
    std::uint32_t type = 0;       // F32
    std::uint64_t ne0 = 32;
    std::uint64_t offset = 0;
    std::uint32_t nDims = 2;
    std::size_t dataBytes = 32 * 2 * 4;

    Bytes build() const {
        Bytes x;
        x.put(magic).put(version).put(tensorCount).put(kvCount);
        x.str("general.architecture").put<std::uint32_t>(8).str("llama");
        x.put<std::uint64_t>(nameLength);
        x.b.push_back(static_cast<std::byte>('w'));
        x.put(nDims);
        x.put(ne0);
        if (nDims > 1) x.put<std::uint64_t>(2);
        for (std::uint32_t d = 2; d < nDims && d < 8; ++d)
            x.put<std::uint64_t>(1);
        x.put(type).put(offset);
        x.pad(32);
        x.b.resize(x.b.size() + dataBytes, std::byte{0});
        return x;
    }
};

} // namespace

// ---- dequantization of hand-built blocks --------------------------------------------------------------

TEST(GgufTest, Q8_0BlockDequantizesExactly) {
    std::vector<std::byte> blk(34);
    putU16(blk, 0, 0x3800); // d = 0.5
    const std::int8_t q[32] = {0,   1,  -1,  127, -127, -128, 2,   -2, 3,   4,  5,   6,  7,   8,   9,    10,
                               -10, 20, -20, 30,  -30,  40,   -40, 50, -50, 60, -60, 70, -70, 100, -100, 64};
    std::memcpy(blk.data() + 2, q, 32);
    const auto y = dequant(GgufType::Q8_0, blk, 32);
    for (int j = 0; j < 32; ++j)
        EXPECT_EQ(y[j], 0.5f * q[j]) << j;
    EXPECT_EQ(y[3], 63.5f);
    EXPECT_EQ(y[5], -64.0f);
}

TEST(GgufTest, Q4_0BlockDequantizesExactly) {
    std::vector<std::byte> blk(18);
    putU16(blk, 0, 0x3400); // d = 0.25
    // Byte j: low nibble j (element j), high nibble 15 - j (element 16 + j).
    for (int j = 0; j < 16; ++j)
        blk[2 + j] = static_cast<std::byte>(j | ((15 - j) << 4));
    const auto y = dequant(GgufType::Q4_0, blk, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], 0.25f * static_cast<float>(j - 8)) << j;
        EXPECT_EQ(y[16 + j], 0.25f * static_cast<float>(7 - j)) << j;
    }
    EXPECT_EQ(y[0], -2.0f);
    EXPECT_EQ(y[15], 1.75f);
    EXPECT_EQ(y[16], 1.75f);
    EXPECT_EQ(y[31], -2.0f);
}

TEST(GgufTest, Q4_1BlockDequantizesExactly) {
    std::vector<std::byte> blk(20);
    putU16(blk, 0, 0x3800); // d = 0.5
    putU16(blk, 2, 0xBC00); // m = -1
    for (int j = 0; j < 16; ++j)
        blk[4 + j] = static_cast<std::byte>(j | ((15 - j) << 4));
    const auto y = dequant(GgufType::Q4_1, blk, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], 0.5f * static_cast<float>(j) - 1.0f) << j;
        EXPECT_EQ(y[16 + j], 0.5f * static_cast<float>(15 - j) - 1.0f) << j;
    }
}

// The K-quant expectations are computed element by element from the block layout (ggml-common.h),
// independently of the loop structure of the dequantizers.
TEST(GgufTest, Q4_KSuperBlockDequantizes) {
    std::vector<std::byte> blk = pseudoBytes(144, 7);
    putU16(blk, 0, 0x3C00); // d = 1
    putU16(blk, 2, 0x3800); // dmin = 0.5
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
        sc[j] = 1 + 7 * j; // up to 50: exercises the high bits
        mn[j] = 63 - 5 * j;
    }
    packScalesK4(blk, 4, sc, mn);
    const auto y = dequant(GgufType::Q4_K, blk, 256);
    for (int e = 0; e < 256; ++e) {
        const int sb = e / 32, l = e % 32;
        const std::uint8_t byte = u8(blk, 16 + (sb / 2) * 32 + l);
        const int q = sb % 2 == 0 ? (byte & 0xF) : (byte >> 4);
        EXPECT_EQ(y[e], 1.0f * sc[sb] * q - 0.5f * mn[sb]) << e;
    }
}

TEST(GgufTest, Q5_KSuperBlockDequantizes) {
    std::vector<std::byte> blk = pseudoBytes(176, 11);
    putU16(blk, 0, 0x3800); // d = 0.5
    putU16(blk, 2, 0x3400); // dmin = 0.25
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
        sc[j] = 63 - 6 * j;
        mn[j] = 2 + 8 * j;
    }
    packScalesK4(blk, 4, sc, mn);
    const auto y = dequant(GgufType::Q5_K, blk, 256);
    for (int e = 0; e < 256; ++e) {
        const int sb = e / 32, l = e % 32;
        const std::uint8_t byte = u8(blk, 48 + (sb / 2) * 32 + l);
        const int low = sb % 2 == 0 ? (byte & 0xF) : (byte >> 4);
        const int high = (u8(blk, 16 + l) >> sb) & 1;
        EXPECT_EQ(y[e], 0.5f * sc[sb] * (low + 16 * high) - 0.25f * mn[sb]) << e;
    }
}

namespace {

// `rows` x `cols` of a K-quant type as stored: pseudo-random bytes, each super-block's d and dmin set to
// finite halves of every kind (normal, subnormal, the largest, negative, zero).
std::vector<std::byte> kQuantRows(GgufType type, std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
    const auto& t = ggufTypeTraits(type);
    const std::int64_t blocks = rows * cols / t.blockSize;
    std::vector<std::byte> b = pseudoBytes(static_cast<std::size_t>(blocks * t.blockBytes), seed);
    const std::uint16_t halves[] = {0x3C00, 0x2E66, 0x1A00, 0x0001, 0x7BFF, 0x8400, 0x0000, 0xB0F0};
    const std::int64_t dAt = type == GgufType::Q2_K ? 80 : 0; // d then dmin
    for (std::int64_t k = 0; k < blocks; ++k) {
        putU16(b, static_cast<std::size_t>(k * t.blockBytes + dAt), halves[k % 8]);
        putU16(b, static_cast<std::size_t>(k * t.blockBytes + dAt + 2), halves[(k + 3) % 8]);
    }
    return b;
}

CompactMatrix splitToCompact(GgufType type, const std::vector<std::byte>& stored, std::int64_t rows, std::int64_t cols) {
    const auto& t = ggufTypeTraits(type);
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * cols));
    std::vector<float> scales(codes.size() / static_cast<std::size_t>(t.codeRun)), mins(scales.size());
    t.split(stored.data(), rows * cols, codes.data(), scales.data(), mins.data());
    return CompactMatrix::scaledWithMins(std::move(codes), std::move(scales), std::move(mins), rows, cols, t.codeRun);
}

bool sameBits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

} // namespace

// Q2_K, Q4_K and Q5_K held as codes with a scale and a min per 16 or 32 (nibbles for Q2_K's 0..3 and
// Q4_K's 0..15, bytes for Q5_K's 0..31): every value, and a product over them, the same bits as the
// dequantized float32.
TEST(GgufTest, KQuantCodesReadAsTheDequantizedValues) {
    const std::int64_t rows = 7, cols = 512;
    for (GgufType type : {GgufType::Q2_K, GgufType::Q4_K, GgufType::Q5_K}) {
        const auto stored = kQuantRows(type, rows, cols, 21);
        std::vector<float> want(static_cast<std::size_t>(rows * cols));
        ggufTypeTraits(type).dequantize(stored.data(), want.data(), rows * cols);
        const CompactMatrix compact = splitToCompact(type, stored, rows, cols);
        EXPECT_EQ(compact.view().nibbles, type != GgufType::Q5_K);
        EXPECT_LT(compact.bytes(), want.size() * sizeof(float) / 3) << ggufTypeTraits(type).name;
        EXPECT_TRUE(sameBits(compact.toFloats(), want)) << ggufTypeTraits(type).name;
        for (std::int64_t c : {0, 3, 37, 505}) { // one element at a time where 8 straddle a run or a byte
            float got[7];
            compactToFloats(compact.view(), 2, c, 7, got);
            for (int i = 0; i < 7; ++i) EXPECT_EQ(std::bit_cast<std::uint32_t>(got[i]),
                                                  std::bit_cast<std::uint32_t>(want[static_cast<std::size_t>(2 * cols + c + i)]));
        }
        // The product's packing converts the codes as it copies them.
        std::vector<float> a(static_cast<std::size_t>(5 * cols)), viaFloats(5 * rows), viaCodes(5 * rows);
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.37f * static_cast<float>(i));
        gemmNT({a.data(), 5, cols, cols}, {want.data(), rows, cols, cols}, {viaFloats.data(), 5, rows, rows});
        gemmNT({a.data(), 5, cols, cols}, compact.view(), {viaCodes.data(), 5, rows, rows});
        EXPECT_TRUE(sameBits(viaCodes, viaFloats)) << ggufTypeTraits(type).name;
    }
    EXPECT_THROW(CompactMatrix::scaledWithMins(std::vector<std::uint8_t>(64, 1), std::vector<float>(2), std::vector<float>(1), 1, 64, 32), Error);
    EXPECT_THROW(CompactMatrix::scaledWithMins(std::vector<std::uint8_t>(32, 200), std::vector<float>(1), std::vector<float>(1), 1, 32, 32), Error);
}

// A GGUF model whose down projections (rows of 512: two super-blocks) are stored as Q4_K and Q5_K is
// evaluated from their codes, the same logits as from float32 copies, in fewer bytes.
TEST(GgufTest, KQuantLinearsAreHeldAsTheirCodes) {
    const fs::path f32 = testDir() / "tiny_for_kq.gguf", kq = testDir() / "tiny_kq.gguf";
    writeGgufModel(*openModel(qs::test::tinyLlama()), f32, {GgufType::F32, {}});
    const GgufFile src = GgufFile::open(f32);
    std::vector<GgufWriteItem> items;
    std::vector<std::string> downs;
    for (const GgufTensorInfo& ti : src.tensors()) {
        GgufWriteItem it{ti.name, ti.type, ti.shape, {}, {}};
        if (ti.name.find("ffn_down") != std::string::npos) {
            it.type = downs.size() % 2 ? GgufType::Q5_K : GgufType::Q4_K;
            it.produceEncoded = [type = it.type, shape = ti.shape, seed = static_cast<std::uint32_t>(downs.size())] {
                std::vector<std::byte> b = kQuantRows(type, shape[0], shape[1], 40 + seed);
                const int bytes = ggufTypeTraits(type).blockBytes;
                for (std::size_t k = 0; k < b.size(); k += static_cast<std::size_t>(bytes))
                    putU16(b, k, 0x0E66), putU16(b, k + 2, 0x10A3); // d, dmin about 4e-4, 6e-4: weights of ±0.6 on no lattice
                return b;
            };
            downs.push_back(ggufToHfName(ti.name));
        } else {
            it.produce = [&src, name = ti.name] { return src.dequantize(name); };
        }
        items.push_back(std::move(it));
    }
    ASSERT_EQ(downs.size(), 4u);
    writeGguf(kq, src.metadata(), items);

    const auto m = openModel(kq);
    for (const std::string& name : downs) {
        const std::optional<CompactMatrix> codes = m->storedCodes(name);
        ASSERT_TRUE(codes) << name;
        EXPECT_TRUE(sameBits(codes->toFloats(), m->weight(name).toFloats())) << name;
    }
    EXPECT_FALSE(m->storedCodes("model.layers.0.mlp.up_proj.weight")); // F32

    const CausalLm fromCodes(*m);
    // The same values given as float32 (off every lattice, so held as float32), and every weight read
    // as float32.
    std::map<std::string, std::vector<float>> floatDowns;
    for (const std::string& name : downs) floatDowns[name] = m->weight(name).toFloats();
    const CausalLm fromFloatDowns(*m, floatDowns);
    const bool saved = allowCompactWeights(false);
    EXPECT_FALSE(m->storedCodes(downs[0]));
    const CausalLm fromFloats(*m);
    allowCompactWeights(saved);
    const std::vector<std::int32_t> ids{1, 17, 300, 42, 511, 0, 99, 256, 8, 3};
    const RowMatrixF logits = fromCodes.forward(ids);
    EXPECT_TRUE(logits == fromFloats.forward(ids));
    EXPECT_TRUE(logits == fromFloatDowns.forward(ids));
    // Four 192 x 512 matrices: 4 bytes a value as float32; as codes with a scale, a min (and for
    // nibbles an offset) per 32, about 0.8 (Q4_K) and 1.25 (Q5_K).
    EXPECT_LT(fromCodes.weightBytes() + 4 * 192 * 512 * 5 / 2, fromFloatDowns.weightBytes());
}

TEST(GgufTest, Q6_KSuperBlockDequantizes) {
    std::vector<std::byte> blk = pseudoBytes(210, 13);
    putU16(blk, 208, 0x3400); // d = 0.25
    const auto y = dequant(GgufType::Q6_K, blk, 256);
    for (int e = 0; e < 256; ++e) {
        const int half = e / 128, r = e % 128, k = r / 32, l = r % 32;
        const std::uint8_t lb = u8(blk, half * 64 + l + (k & 1) * 32);
        const int low = k < 2 ? (lb & 0xF) : (lb >> 4);
        const int high = (u8(blk, 128 + half * 32 + l) >> (2 * k)) & 3;
        const int scale = static_cast<std::int8_t>(u8(blk, 192 + half * 8 + l / 16 + 2 * k));
        EXPECT_EQ(y[e], 0.25f * scale * ((low | (high << 4)) - 32)) << e;
    }
}

// ---- ggml reference quantizers ----------------------------------------------------------------------

TEST(GgufTest, Q8_0QuantizesLikeGgmlReference) {
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j)
        x[j] = static_cast<float>(j - 16) * 0.1f;
    const auto enc = ggufEncode(GgufType::Q8_0, x);
    ASSERT_EQ(enc.size(), 34u);
    const float d = 1.6f / 127.0f;
    std::uint16_t dh;
    std::memcpy(&dh, enc.data(), 2);
    EXPECT_EQ(dh, f32ToF16(d));
    for (int j = 0; j < 32; ++j)
        EXPECT_EQ(static_cast<std::int8_t>(enc[2 + j]),
                  static_cast<std::int8_t>(std::roundf(x[j] * (1.0f / d))))
            << j;
    EXPECT_EQ(static_cast<std::int8_t>(enc[2]), -127);
    const auto y = dequant(GgufType::Q8_0, enc, 32);
    for (int j = 0; j < 32; ++j)
        EXPECT_NEAR(y[j], x[j], 0.5f * d + 1e-3f) << j;
}

TEST(GgufTest, Q4_0QuantizesLikeGgmlReference) {
    // Largest magnitude is negative (-4): d = -4 / -8 = 0.5, multiples of 0.5 round-trip exactly.
    std::vector<float> x(32);
    for (int j = 0; j < 16; ++j)
        x[j] = static_cast<float>(j - 8) * 0.5f;
    for (int j = 16; j < 32; ++j)
        x[j] = static_cast<float>(23 - j) * 0.5f;
    auto enc = ggufEncode(GgufType::Q4_0, x);
    ASSERT_EQ(enc.size(), 18u);
    std::uint16_t dh;
    std::memcpy(&dh, enc.data(), 2);
    EXPECT_EQ(f16ToF32(dh), 0.5f);
    EXPECT_EQ(static_cast<std::uint8_t>(enc[2]),
              0xF0); // element 0 (-4) -> 0 (low), element 16 (3.5) -> 15 (high)
    EXPECT_EQ(dequant(GgufType::Q4_0, enc, 32), x);

    // Largest magnitude positive (8): d = -1; 8 -> q 0, -7 -> q 15, -8 clamps to q 15 (= -7).
    std::vector<float> z(32, 0.0f);
    z[0] = 8.0f;
    z[1] = -7.0f;
    z[2] = -8.0f;
    z[17] = 2.4f;
    enc = ggufEncode(GgufType::Q4_0, z);
    std::memcpy(&dh, enc.data(), 2);
    EXPECT_EQ(f16ToF32(dh), -1.0f);
    const auto y = dequant(GgufType::Q4_0, enc, 32);
    EXPECT_EQ(y[0], 8.0f);
    EXPECT_EQ(y[1], -7.0f);
    EXPECT_EQ(y[2], -7.0f);
    EXPECT_EQ(y[17], 2.0f); // 2.4 * -1 + 8.5 = 6.1 -> 6 -> (6 - 8) * -1
    EXPECT_EQ(y[5], 0.0f);
    // An all-zero block has d = 0 and decodes to zeros.
    enc = ggufEncode(GgufType::Q4_0, std::vector<float>(32, 0.0f));
    EXPECT_EQ(dequant(GgufType::Q4_0, enc, 32), std::vector<float>(32, 0.0f));
}

TEST(GgufTest, NamesMapBothWays) {
    EXPECT_EQ(ggufToHfName("blk.3.attn_q.weight"), "model.layers.3.self_attn.q_proj.weight");
    EXPECT_EQ(ggufToHfName("blk.12.ffn_norm.weight"), "model.layers.12.post_attention_layernorm.weight");
    EXPECT_EQ(ggufToHfName("token_embd.weight"), "model.embed_tokens.weight");
    EXPECT_EQ(ggufToHfName("output.weight"), "lm_head.weight");
    EXPECT_EQ(ggufToHfName("rope_freqs.weight"), "rope_freqs.weight");
    EXPECT_EQ(hfToGgufName("model.layers.0.mlp.down_proj.weight"), "blk.0.ffn_down.weight");
    EXPECT_EQ(hfToGgufName("model.norm.weight"), "output_norm.weight");
    EXPECT_FALSE(hfToGgufName("model.layers.x.mlp.down_proj.weight"));
}

// ---- writer -> reader round trips on the fixture model ------------------------------------------------

TEST(GgufTest, F32RoundTripIsBitExact) {
    const fs::path out = testDir() / "tiny.gguf";
    const auto src = openModel(qs::test::tinyLlama());
    writeGgufModel(*src, out, {GgufType::F32, {}});
    const auto m = openModel(out);
    ASSERT_NE(dynamic_cast<const GgufModel*>(m.get()), nullptr);

    const ModelConfig& a = src->config();
    const ModelConfig& b = m->config();
    EXPECT_EQ(b.modelType, "llama");
    EXPECT_EQ(b.hiddenSize, a.hiddenSize);
    EXPECT_EQ(b.numLayers, a.numLayers);
    EXPECT_EQ(b.numHeads, a.numHeads);
    EXPECT_EQ(b.numKvHeads, a.numKvHeads);
    EXPECT_EQ(b.headDim, a.headDim);
    EXPECT_EQ(b.intermediateSize, a.intermediateSize);
    EXPECT_EQ(b.vocabSize, a.vocabSize);
    EXPECT_EQ(b.maxPositions, a.maxPositions);
    EXPECT_FLOAT_EQ(static_cast<float>(b.rmsNormEps), static_cast<float>(a.rmsNormEps));
    EXPECT_EQ(b.ropeTheta, a.ropeTheta);
    EXPECT_EQ(b.tieWordEmbeddings, a.tieWordEmbeddings);

    ASSERT_EQ(m->weights().size(), src->weights().size());
    EXPECT_EQ(m->parameterCount(), src->parameterCount());
    EXPECT_EQ(m->quantizableParameterCount(), src->quantizableParameterCount());
    for (const auto& w : src->weights()) {
        const WeightInfo* g = m->find(w.name);
        ASSERT_NE(g, nullptr) << w.name;
        EXPECT_EQ(g->shape, w.shape) << w.name;
        EXPECT_EQ(g->role, w.role) << w.name;
        EXPECT_EQ(g->quantizable, w.quantizable) << w.name;
        EXPECT_EQ(g->dtype, DType::F32) << w.name;
        const auto want = src->weight(w.name).toFloats();
        const auto got = m->weight(w.name).toFloats();
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << w.name;
    }

    // In the file, q/k rows are in llama.cpp's interleaved order: GGUF row 2i+s of a head is HF row
    // s*headDim/2 + i of that head.
    const auto& file = static_cast<const GgufModel&>(*m).file();
    const std::string q = "model.layers.1.self_attn.q_proj.weight",
                      k = "model.layers.2.self_attn.k_proj.weight";
    for (const auto& [hf, nHead] : {std::pair{q, a.numHeads}, std::pair{k, a.numKvHeads}}) {
        const auto hfRows = src->weight(hf).toFloats();
        const auto gg = file.dequantize(*hfToGgufName(hf));
        const std::int64_t cols = a.hiddenSize, hd = a.headDim;
        ASSERT_EQ(static_cast<std::int64_t>(gg.size()), nHead * hd * cols);
        for (std::int64_t h = 0; h < nHead; ++h)
            for (std::int64_t i = 0; i < hd / 2; ++i)
                for (std::int64_t s = 0; s < 2; ++s)
                    for (std::int64_t cc = 0; cc < cols; cc += 37)
                        ASSERT_EQ(gg[(h * hd + 2 * i + s) * cols + cc],
                                  hfRows[(h * hd + s * hd / 2 + i) * cols + cc]);
        EXPECT_NE(gg, hfRows); // the permutation is not the identity
    }
    EXPECT_EQ(file.find("blk.1.attn_q.weight")->ne, (std::vector<std::uint64_t>{192, 192}));
    EXPECT_EQ(file.find("token_embd.weight")->ne, (std::vector<std::uint64_t>{192, 512}));
    EXPECT_EQ(file.version(), 3u);
    EXPECT_EQ(*file.findValue("general.architecture")->toString(), "llama");
}

TEST(GgufTest, F32ModelForwardMatchesPyTorch) {
    const fs::path out = testDir() / "tiny.gguf";
    writeGgufModel(*openModel(qs::test::tinyLlama()), out, {GgufType::F32, {}});
    const auto m = openModel(out);
    const CausalLm lm(*m);
    const Tensor t = readNpy(qs::test::tinyLlama() / "ref_tokens_7.npy");
    std::vector<std::int32_t> ids(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < ids.size(); ++i)
        ids[i] = t.dtype() == DType::I64 ? static_cast<std::int32_t>(t.data<std::int64_t>()[i])
                                         : t.data<std::int32_t>()[i];
    const RowMatrixF logits = lm.forward(ids);
    const Tensor ref = readNpy(qs::test::tinyLlama() / "ref_logits_7.npy");
    ASSERT_EQ(ref.numel(), logits.size());
    double diff = 0;
    for (std::int64_t i = 0; i < logits.size(); ++i)
        diff = std::max(diff, std::fabs(static_cast<double>(logits.data()[i]) - ref.data<float>()[i]));
    EXPECT_LT(diff, 1e-3);
}

TEST(GgufTest, QuantizedRoundTripsMatchReferenceQuantizers) {
    const fs::path dir = testDir();
    const auto src = openModel(qs::test::tinyLlama());
    for (GgufType type : {GgufType::Q8_0, GgufType::Q4_0, GgufType::F16}) {
        const auto& traits = ggufTypeTraits(type);
        const fs::path out = dir / (std::string(traits.name) + ".gguf");
        writeGgufModel(*src, out, {type, {}});
        const auto m = openModel(out);
        const auto& file = static_cast<const GgufModel&>(*m).file();
        for (const auto& w : src->weights()) {
            const auto want = src->weight(w.name).toFloats();
            const auto got = m->weight(w.name).toFloats();
            ASSERT_EQ(got.size(), want.size()) << w.name;
            const GgufType stored = file.find(*hfToGgufName(w.name))->type;
            if (w.shape.size() == 1) {
                EXPECT_EQ(stored, GgufType::F32) << w.name;
                EXPECT_EQ(got, want) << w.name;
                continue;
            }
            EXPECT_EQ(stored, type) << w.name;
            // Exactly what the reference quantizer gives (blocks run along rows, which the q/k
            // permutation moves whole), and close to the source per block.
            const auto enc = ggufEncode(type, want);
            std::vector<float> ref(want.size());
            traits.dequantize(enc.data(), ref.data(), static_cast<std::int64_t>(ref.size()));
            EXPECT_EQ(got, ref) << w.name;
            for (std::size_t b0 = 0; b0 < want.size(); b0 += 32) {
                float amax = 0;
                for (std::size_t j = b0; j < b0 + 32; ++j)
                    amax = std::max(amax, std::fabs(want[j]));
                for (std::size_t j = b0; j < b0 + 32; ++j)
                    ASSERT_LE(std::fabs(got[j] - want[j]), traits.roundTripTolerance * amax + 1e-7f)
                        << w.name << " [" << j << "] " << traits.name;
            }
        }
    }
}

TEST(GgufTest, WriterRejectsImpossibleChoices) {
    const fs::path dir = testDir();
    const auto src = openModel(qs::test::tinyLlama());
    expectError([&] { writeGgufModel(*src, dir / "a.gguf", {GgufType::Q4_K, {}}); }, {"a.gguf", "Q4_K"});
    expectError(
        [&] {
            writeGgufModel(*src, dir / "b.gguf", {GgufType::F32, {{"nope", GgufType::F16}}});
        },
        {"b.gguf", "nope"});
    // A norm has 192 elements per row: fine for Q8_0 (6 blocks); 1-D Q8_0 on 192 is allowed.
    expectError(
        [&] {
            writeGguf(dir / "c.gguf", {},
                      {{"w", GgufType::Q8_0, {2, 31}, [] { return std::vector<float>(62); }}});
        },
        {"c.gguf", "multiple", "Q8_0"});
    // Stored bytes given as they are must be the type's size for the shape (one Q4_K row of 256: 144).
    GgufWriteItem raw{"w", GgufType::Q4_K, {1, 256}, {}, [] { return std::vector<std::byte>(143); }};
    expectError([&] { writeGguf(dir / "d.gguf", {}, {raw}); }, {"d.gguf", "'w'", "143 bytes", "144"});
    EXPECT_FALSE(fs::exists(dir / "a.gguf"));
    EXPECT_FALSE(fs::exists(dir / "c.gguf"));
    EXPECT_FALSE(fs::exists(dir / "d.gguf"));
}

TEST(GgufTest, ReadsMetadataOfEveryType) {
    const fs::path p = testDir() / "meta.gguf";
    GgufValue nested;
    nested.type = GgufValueType::Array;
    nested.elemType = GgufValueType::Array;
    nested.array.push_back(GgufValue::ofStrings({"a", "bc"}));
    GgufValue i8;
    i8.type = GgufValueType::I8;
    i8.i = -5;
    GgufValue f64;
    f64.type = GgufValueType::F64;
    f64.f = 0.125;
    writeGguf(p,
              {{"s", GgufValue::ofString("hello")},
               {"u32", GgufValue::ofU32(7)},
               {"u64", GgufValue::ofU64(1ull << 40)},
               {"i8", i8},
               {"f32", GgufValue::ofF32(1.5f)},
               {"f64", f64},
               {"b", GgufValue::ofBool(true)},
               {"toks", GgufValue::ofStrings({"x", "", "yz"})},
               {"nested", nested}},
              {{"t", GgufType::F16, {3, 64}, [] { return std::vector<float>(192, 1.5f); }}}, 64);
    const GgufFile f = GgufFile::open(p);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.dataStart() % 64, 0u);
    EXPECT_EQ(*f.findValue("s")->toString(), "hello");
    EXPECT_EQ(f.findValue("u32")->toInt(), 7);
    EXPECT_EQ(f.findValue("u64")->toInt(), 1ll << 40);
    EXPECT_EQ(f.findValue("i8")->toInt(), -5);
    EXPECT_EQ(f.findValue("f32")->toDouble(), 1.5);
    EXPECT_EQ(f.findValue("f64")->toDouble(), 0.125);
    EXPECT_EQ(f.findValue("b")->u, 1u);
    EXPECT_EQ(f.findValue("toks")->array.size(), 3u);
    EXPECT_EQ(f.findValue("toks")->array[2].str, "yz");
    EXPECT_EQ(f.findValue("nested")->array[0].array[1].str, "bc");
    EXPECT_EQ(f.metadata().size(), 10u); // + general.alignment
    const Tensor t = f.tensor("t");
    EXPECT_EQ(t.dtype(), DType::F16);
    EXPECT_EQ(t.shape(), (Shape{3, 64}));
    EXPECT_EQ(t.toFloats(), std::vector<float>(192, 1.5f));
}

// ---- malformed files ------------------------------------------------------------------------------

TEST(GgufTest, HandBuiltFileIsValid) {
    const fs::path p = testDir() / "ok.gguf";
    HandFile{}.build().save(p);
    const GgufFile f = GgufFile::open(p);
    ASSERT_EQ(f.tensors().size(), 1u);
    EXPECT_EQ(f.tensors()[0].shape, (Shape{2, 32}));
    EXPECT_EQ(f.tensor("w").toFloats(), std::vector<float>(64, 0.0f));
}

TEST(GgufTest, MalformedFilesGiveClearErrors) {
    const fs::path dir = testDir();
    int n = 0;
    const auto check = [&](const HandFile& h, std::initializer_list<const char*> parts) {
        const fs::path p = dir / ("bad" + std::to_string(n++) + ".gguf");
        h.build().save(p);
        expectError([&] { GgufFile::open(p); }, parts);
        expectError([&] { GgufFile::open(p); }, {"bad"});
    };
    HandFile h;
    h.magic = 0x58554747; // "GGUX"
    check(h, {"bad magic"});
    h = {};
    h.version = 1;
    check(h, {"version 1"});
    h = {};
    h.version = 0x03000000;
    check(h, {"unsupported GGUF version", "big-endian"});
    h = {};
    h.tensorCount = 1ull << 50;
    check(h, {"tensor count", "impossible"});
    h = {};
    h.kvCount = ~0ull;
    check(h, {"metadata count", "impossible"});
    h = {};
    h.nameLength = 1ull << 40;
    check(h, {"tensor #0", "length", "past the end"});
    h = {};
    h.type = 99;
    check(h, {"'w'", "unknown tensor type id 99"});
    h = {};
    h.type = 8; // Q8_0 with ne[0] = 31
    h.ne0 = 31;
    check(h, {"'w'", "not a multiple", "Q8_0", "32"});
    h = {};
    h.offset = 4096;
    check(h, {"'w'", "past the end"});
    h = {};
    h.offset = 4;
    check(h, {"'w'", "alignment"});
    h = {};
    h.dataBytes = 100; // 256 needed
    check(h, {"'w'", "past the end"});
    h = {};
    h.ne0 = 1ull << 62;
    check(h, {"'w'", "bad dim"});
    h = {};
    h.nDims = 9;
    check(h, {"'w'", "9 dims"});

    // Every truncation of a valid file is an Error, never a crash.
    const Bytes whole = HandFile{}.build();
    const fs::path p = dir / "cut.gguf";
    for (std::size_t len = 0; len < whole.b.size(); len += (len < 200 ? 1 : 16)) {
        Bytes cut;
        cut.b.assign(whole.b.begin(), whole.b.begin() + static_cast<std::ptrdiff_t>(len));
        cut.save(p);
        EXPECT_THROW(GgufFile::open(p), Error) << len;
    }
    expectError(
        [&] {
            Bytes cut;
            cut.b.assign(whole.b.begin(), whole.b.begin() + 20); // inside the metadata count
            cut.save(p);
            GgufFile::open(p);
        },
        {"cut.gguf", "truncated"});
}

TEST(GgufTest, ModelRejectsOtherArchitecturesAndMissingKeys) {
    const fs::path dir = testDir();
    writeGguf(dir / "gpt2.gguf", {{"general.architecture", GgufValue::ofString("gpt2")}}, {});
    expectError([&] { openModel(dir / "gpt2.gguf"); }, {"gpt2.gguf", "unsupported GGUF architecture 'gpt2'"});
    writeGguf(dir / "nokeys.gguf", {{"general.architecture", GgufValue::ofString("llama")}},
              {{"token_embd.weight", GgufType::F32, {8, 32}, [] { return std::vector<float>(256); }}});
    expectError([&] { openModel(dir / "nokeys.gguf"); },
                {"nokeys.gguf", "llama.embedding_length", "missing"});
}
