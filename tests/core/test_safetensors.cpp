// SPDX-License-Identifier: MIT
// Safetensors reader/writer: round trips, the fixture, and one hand-built file per malformed case.
#include "fixture_paths.h"
#include "io/safetensors.h"
#include "base/error.h"
#include "tensor/half.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <initializer_list>
#include <string>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

fs::path testDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return qs::test::outputDir(std::string("safetensors_") + info->name());
}

void writeBytes(const fs::path& p, const std::string& bytes) {
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(f.good());
}

std::string le64(std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i)
        s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

// A safetensors file from a header text and a data section; `len` overrides the header length field.
fs::path makeFile(const std::string& header, const std::string& data, std::uint64_t len = ~0ull) {
    const fs::path p = testDir() / "bad.safetensors";
    writeBytes(p, le64(len == ~0ull ? header.size() : len) + header + data);
    return p;
}

// Opening must throw Error whose message names the file and contains every keyword.
void expectError(const fs::path& p, std::initializer_list<const char*> keywords) {
    try {
        SafetensorsFile::open(p);
        FAIL() << "no error for " << p;
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(p.filename().string()), std::string::npos) << msg;
        for (const char* k : keywords)
            EXPECT_NE(msg.find(k), std::string::npos) << "'" << k << "' not in: " << msg;
    }
}

// One F32 tensor "w" of shape [2] with the given entry JSON, 8 data bytes.
fs::path oneEntry(const std::string& entry) {
    return makeFile("{\"w\":" + entry + "}", std::string(8, '\0'));
}

std::vector<float> sampleValues(std::size_t n) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f + 1e-3f * i;
    return v;
}

} // namespace

TEST(SafetensorsTest, RoundTripInEveryFloatType) {
    const fs::path dir = testDir();
    const auto a = sampleValues(6), b = sampleValues(35);
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        const fs::path p = dir / (std::string(dtypeName(dt)) + ".safetensors");
        // Given out of order: the writer sorts by name.
        writeSafetensors(p,
                         {{"zeta", convertFloats(b.data(), {5, 7}, dt)},
                          {"alpha", convertFloats(a.data(), {2, 3}, dt)},
                          {"empty", convertFloats(nullptr, {0, 4}, dt)}},
                         {{"format", "pt"}, {"note", "x"}});
        const auto f = SafetensorsFile::open(p);
        ASSERT_EQ(f.entries().size(), 3u);
        EXPECT_EQ(f.metadata().at("format"), "pt");
        EXPECT_EQ(f.metadata().at("note"), "x");
        EXPECT_EQ(f.entries()[0].name, "alpha"); // data in sorted-name order
        EXPECT_EQ(f.entries()[2].name, "zeta");
        EXPECT_EQ(f.find("empty")->shape, (Shape{0, 4}));
        const Tensor t = f.tensor("zeta");
        EXPECT_EQ(t.dtype(), dt);
        EXPECT_EQ(t.shape(), (Shape{5, 7}));
        const auto got = t.toFloats();
        for (std::size_t i = 0; i < b.size(); ++i) {
            const float want = dt == DType::F32   ? b[i]
                               : dt == DType::F16 ? f16ToF32(f32ToF16(b[i]))
                                                  : bf16ToF32(f32ToBf16(b[i]));
            ASSERT_EQ(got[i], want) << i;
        }
        EXPECT_EQ(f.tensor("alpha").toFloats().size(), 6u);
        EXPECT_EQ(f.tensor("empty").numel(), 0);

        // Header padded with spaces to a multiple of 8; no temporary file left behind.
        std::ifstream in(p, std::ios::binary);
        unsigned char len[8];
        in.read(reinterpret_cast<char*>(len), 8);
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = n << 8 | len[i];
        EXPECT_EQ(n % 8, 0u);
    }
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        EXPECT_EQ(e.path().extension(), ".safetensors") << e.path();
        ++files;
    }
    EXPECT_EQ(files, 3);
}

TEST(SafetensorsTest, ReadsTheFixture) {
    const auto f = SafetensorsFile::open(qs::test::tinyLlama() / "model.safetensors");
    EXPECT_EQ(f.entries().size(), 39u);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    const auto* e = f.find("model.layers.1.mlp.down_proj.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dtype, DType::BF16);
    EXPECT_EQ(e->shape, (Shape{192, 512}));
    EXPECT_EQ(f.find("nope"), nullptr);
    EXPECT_THROW(f.tensor("nope"), Error);
}

TEST(SafetensorsTest, ScalarAndMisalignedTensorsAreReadable) {
    // Header of 13 bytes: data starts at byte 21, so an F32 at offset 0 is misaligned in memory.
    const std::string header = R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})";
    float v = 2.5f;
    std::string data(4, '\0');
    std::memcpy(data.data(), &v, 4);
    const auto p = makeFile(header, data);
    const auto f = SafetensorsFile::open(p);
    const Tensor t = f.tensor("s");
    EXPECT_EQ(t.numel(), 1);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.bytes()) % 4, 0u);
    EXPECT_EQ(t.data<float>()[0], 2.5f);
}

TEST(SafetensorsTest, ExtraBytesAndHolesAreTolerated) {
    const auto p = makeFile(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})", "xxxxAByyy");
    const auto f = SafetensorsFile::open(p);
    EXPECT_EQ(f.tensor("a").toFloats(), (std::vector<float>{'A', 'B'}));
}

TEST(SafetensorsTest, FileShorterThan8Bytes) {
    const fs::path p = testDir() / "short.safetensors";
    writeBytes(p, "abcde");
    expectError(p, {"too short"});
    writeBytes(p, "");
    expectError(p, {"too short"});
}

TEST(SafetensorsTest, HeaderLengthPastEndOfFile) {
    expectError(makeFile("{}", "", 1000), {"past the end"});
}

TEST(SafetensorsTest, AbsurdHeaderLength) {
    expectError(makeFile("{}", "", 1ull << 40), {"absurd"});
    expectError(makeFile("{}", "", ~0ull - 1), {"absurd"});
}

TEST(SafetensorsTest, HeaderNotUtf8) {
    expectError(makeFile("{\"w\xff\":1}", ""), {"UTF-8"});
    expectError(makeFile("{\"\xc0\xaf\":1}", ""), {"UTF-8"});     // overlong '/'
    expectError(makeFile("{\"\xed\xa0\x80\":1}", ""), {"UTF-8"}); // surrogate
    expectError(makeFile("{\"\xe2\x82\":1}", ""), {"UTF-8"});     // truncated sequence
}

TEST(SafetensorsTest, HeaderNotJson) {
    expectError(makeFile("{\"w\": ", ""), {"not valid JSON"});
    expectError(makeFile("", "", 0), {"not valid JSON"});
    expectError(makeFile(std::string("{\0}", 3), ""), {"not valid JSON"});
}

TEST(SafetensorsTest, HeaderNotAnObject) {
    expectError(makeFile("[1, 2]    ", ""), {"not a JSON object"});
    expectError(makeFile("42", ""), {"not a JSON object"});
}

TEST(SafetensorsTest, EntryNotAnObject) {
    expectError(oneEntry("5"), {"'w'", "not a JSON object"});
}

TEST(SafetensorsTest, MissingDtype) {
    expectError(oneEntry(R"({"shape":[2],"data_offsets":[0,8]})"), {"'w'", "missing 'dtype'"});
}

TEST(SafetensorsTest, MissingShape) {
    expectError(oneEntry(R"({"dtype":"F32","data_offsets":[0,8]})"), {"'w'", "missing 'shape'"});
}

TEST(SafetensorsTest, MissingDataOffsets) {
    expectError(oneEntry(R"({"dtype":"F32","shape":[2]})"), {"'w'", "missing 'data_offsets'"});
}

TEST(SafetensorsTest, WrongJsonTypes) {
    expectError(oneEntry(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), {"'dtype' is not a string"});
    expectError(oneEntry(R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})"), {"'shape' is not an array"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), {"not an integer"});
    expectError(oneEntry(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), {"not an integer"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), {"two integers"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":{"a":0}})"), {"two integers"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,"8"]})"), {"not an integer"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8.5]})"), {"not an integer"});
}

TEST(SafetensorsTest, UnknownDtype) {
    expectError(oneEntry(R"({"dtype":"F128","shape":[2],"data_offsets":[0,8]})"), {"unknown dtype 'F128'"});
}

TEST(SafetensorsTest, NegativeDimension) {
    expectError(oneEntry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), {"negative dimension"});
}

TEST(SafetensorsTest, AbsurdDimensions) {
    // The element count overflows 64 bits; a wrapping product could look like a small, valid size.
    expectError(oneEntry(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})"),
                {"absurd"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,8]})"),
                {"absurd"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]})"),
                {"absurd"});
}

TEST(SafetensorsTest, NegativeOffsets) {
    expectError(oneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"), {"negative data_offsets"});
}

TEST(SafetensorsTest, BeginAfterEnd) {
    expectError(oneEntry(R"({"dtype":"F32","shape":[0],"data_offsets":[8,4]})"), {"begin 8 > end 4"});
}

TEST(SafetensorsTest, EndPastDataSection) {
    expectError(oneEntry(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"),
                {"past the end of the data section"});
    expectError(oneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,0]})"),
                {"absurd"});
}

TEST(SafetensorsTest, ByteSizeMismatch) {
    expectError(oneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,8]})"), {"byte size mismatch"});
    expectError(oneEntry(R"({"dtype":"BF16","shape":[2],"data_offsets":[0,8]})"), {"byte size mismatch"});
}

TEST(SafetensorsTest, OverlappingTensors) {
    const auto p = makeFile(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
                            R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                            std::string(12, '\0'));
    expectError(p, {"overlap", "'a'", "'b'"});
    // An overlap hidden behind a long tensor: c is inside a even though b (after a) does not touch it.
    const auto q = makeFile(R"({"a":{"dtype":"U8","shape":[10],"data_offsets":[0,10]},)"
                            R"("b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},)"
                            R"("c":{"dtype":"U8","shape":[1],"data_offsets":[5,6]}})",
                            std::string(10, '\0'));
    expectError(q, {"overlap"});
}

TEST(SafetensorsTest, DuplicateTensorName) {
    const auto p = makeFile(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                            R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                            std::string(2, '\0'));
    expectError(p, {"duplicate tensor name 'w'"});
    expectError(oneEntry(R"({"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})"),
                {"duplicate key 'dtype'"});
}

TEST(SafetensorsTest, BadMetadata) {
    expectError(makeFile(R"({"__metadata__":{"format":1}})", ""), {"__metadata__"});
    expectError(makeFile(R"({"__metadata__":"pt"})", ""), {"__metadata__"});
}

TEST(SafetensorsTest, WriterRejectsBadInput) {
    const fs::path dir = testDir();
    const float one = 1.0f;
    const Tensor t = convertFloats(&one, {1}, DType::F32);
    EXPECT_THROW(writeSafetensors(dir / "dup.safetensors", {{"a", t}, {"a", t}}), Error);
    EXPECT_THROW(writeSafetensors(dir / "meta.safetensors", {{"__metadata__", t}}), Error);
    EXPECT_THROW(writeSafetensors(dir / "missing-dir" / "x.safetensors", {{"a", t}}), Error);
    // A producer that lies about its shape aborts the write and leaves nothing behind.
    std::vector<SafetensorsWriteItem> items{{"a", DType::F32, {2}, [&] { return t; }}};
    EXPECT_THROW(writeSafetensorsStreaming(dir / "lie.safetensors", items), Error);
    EXPECT_TRUE(fs::is_empty(dir));
}

TEST(SafetensorsTest, ConvertFloatsRejectsOtherTypes) {
    const float v[2] = {1.0f, 2.0f};
    EXPECT_THROW(convertFloats(v, {2}, DType::I8), Error);
    EXPECT_THROW(convertFloats(v, {-2}, DType::F32), Error);
    EXPECT_THROW(convertFloats(nullptr, {2}, DType::F32), Error);
    const Tensor h = convertFloats(v, {2}, DType::F16);
    EXPECT_EQ(h.data<std::uint16_t>()[1], 0x4000);
}
