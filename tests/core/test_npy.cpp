// SPDX-License-Identifier: MIT
// .npy reader/writer: round trips, the fixture arrays, and hand-built malformed files.
#include "fixture_paths.h"
#include "io/npy.h"
#include "base/error.h"

#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <initializer_list>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

fs::path testDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return qs::test::outputDir(std::string("npy_") + info->name());
}

std::string readAll(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// A .npy file from a header dict text and raw data (version 1.0 unless `major` says otherwise).
fs::path makeNpy(const std::string& dict, const std::string& data, int major = 1) {
    std::string bytes = "\x93NUMPY";
    bytes += static_cast<char>(major);
    bytes += '\0';
    const int lenBytes = major == 1 ? 2 : 4;
    for (int i = 0; i < lenBytes; ++i)
        bytes += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
    bytes += dict + data;
    const fs::path p = testDir() / "bad.npy";
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
}

void expectError(const fs::path& p, std::initializer_list<const char*> keywords) {
    try {
        readNpy(p);
        FAIL() << "no error for " << p;
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(p.filename().string()), std::string::npos) << msg;
        for (const char* k : keywords)
            EXPECT_NE(msg.find(k), std::string::npos) << "'" << k << "' not in: " << msg;
    }
}

template <class T> Tensor makeTensor(DType dt, Shape shape, std::initializer_list<T> values) {
    Tensor t = Tensor::zeros(dt, std::move(shape));
    std::size_t i = 0;
    for (T v : values)
        t.mutableData<T>()[i++] = v;
    return t;
}

} // namespace

TEST(NpyTest, RoundTrip) {
    const fs::path dir = testDir();
    const std::vector<Tensor> cases{
        makeTensor<float>(DType::F32, {2, 3}, {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f}),
        makeTensor<std::int64_t>(DType::I64, {5}, {1, -2, 1ll << 40, 4, 5}),
        makeTensor<std::uint8_t>(DType::U8, {}, {7}),
        makeTensor<std::uint16_t>(DType::F16, {2, 0, 3}, {}),
        makeTensor<std::int32_t>(DType::I32, {1, 1, 2}, {-7, 9}),
        makeTensor<std::uint8_t>(DType::Bool, {3}, {1, 0, 1}),
        makeTensor<double>(DType::F64, {2}, {0.1, -1e300}),
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const fs::path p = dir / ("case" + std::to_string(i) + ".npy");
        writeNpy(p, cases[i]);
        const std::string bytes = readAll(p);
        // NumPy aligns the data to 64 bytes and ends the header with a newline.
        const std::size_t headerLen =
            static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
        EXPECT_EQ((10 + headerLen) % 64, 0u);
        EXPECT_EQ(bytes[10 + headerLen - 1], '\n');
        const Tensor t = readNpy(p);
        EXPECT_EQ(t.dtype(), cases[i].dtype()) << i;
        EXPECT_EQ(t.shape(), cases[i].shape()) << i;
        ASSERT_EQ(t.byteSize(), cases[i].byteSize()) << i;
        if (t.byteSize()) {
            EXPECT_EQ(std::memcmp(t.bytes(), cases[i].bytes(), t.byteSize()), 0) << i;
        }
    }
    EXPECT_NE(readAll(dir / "case1.npy").find("'shape': (5,)"), std::string::npos);
    EXPECT_NE(readAll(dir / "case2.npy").find("'shape': ()"), std::string::npos);
    EXPECT_NE(readAll(dir / "case0.npy").find("'descr': '<f4'"), std::string::npos);
}

TEST(NpyTest, ReadsFixtureArrays) {
    const Tensor w = readNpy(qs::test::tinyLlama() / "ref_rtn_int4g32_down1.npy");
    EXPECT_EQ(w.dtype(), DType::F32);
    EXPECT_EQ(w.shape(), (Shape{192, 512}));
    const Tensor ids = readNpy(qs::test::tinyLlama() / "ref_tokens_7.npy");
    EXPECT_EQ(ids.dtype(), DType::I64);
    ASSERT_EQ(ids.shape(), (Shape{7}));
    const std::vector<std::int64_t> want{40, 77, 258, 295, 70, 264, 77};
    EXPECT_EQ(std::vector<std::int64_t>(ids.data<std::int64_t>(), ids.data<std::int64_t>() + 7), want);
    const Tensor test = readNpy(qs::test::tinyLlama() / "ref_test_tokens.npy");
    EXPECT_EQ(test.dtype(), DType::I32);
    EXPECT_EQ(test.shape(), (Shape{8192}));
    const Tensor calib = readNpy(qs::test::tinyLlama() / "ref_calib_tokens.npy");
    EXPECT_EQ(calib.shape(), (Shape{32, 128}));
}

TEST(NpyTest, AcceptsHeaderVariants) {
    // Double quotes, other key order, no trailing comma, extra spaces, version 2.0, scalar and (5,).
    std::string five(20, '\0');
    EXPECT_EQ(readNpy(makeNpy("{\"shape\": ( 5 , ), \"fortran_order\": False, \"descr\": \"<i4\"}\n", five))
                  .shape(),
              (Shape{5}));
    EXPECT_EQ(
        readNpy(makeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': ()}", std::string(8, '\0'), 2))
            .shape(),
        (Shape{}));
    EXPECT_EQ(readNpy(makeNpy("{'descr': '|u1', 'fortran_order': True, 'shape': (3,), }", "abc")).dtype(),
              DType::U8);
    EXPECT_EQ(readNpy(makeNpy("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 0), }", "")).numel(), 0);
}

TEST(NpyTest, NotNpy) {
    const fs::path p = testDir() / "x.npy";
    std::ofstream(p) << "hello world, not numpy";
    expectError(p, {"magic"});
    std::ofstream(p, std::ios::trunc) << "";
    expectError(p, {"magic"});
}

TEST(NpyTest, UnsupportedVersion) {
    expectError(makeNpy("{}", "", 9), {"version 9"});
}

TEST(NpyTest, HeaderLengthPastEndOfFile) {
    fs::path p = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "");
    std::string bytes = readAll(p);
    bytes[8] = '\xff';
    bytes[9] = '\x7f';
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
    expectError(p, {"truncated"});
}

TEST(NpyTest, MalformedHeaders) {
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False}", ""), {"missing key 'shape'"});
    expectError(makeNpy("{'fortran_order': False, 'shape': (1,)}", "abcd"), {"missing key 'descr'"});
    expectError(makeNpy("{'descr': '<f4', 'shape': (1,)}", "abcd"), {"missing key 'fortran_order'"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "abcd"),
                {"unexpected key"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (5)}", ""), {"trailing comma"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", ""), {"negative"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", ""), {"malformed"});
    expectError(makeNpy("{'descr': '<f4", ""), {"unterminated"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "abcd"), {"True or False"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", ""),
                {"too large"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", "abcd"),
                {"trailing"});
    expectError(makeNpy("", ""), {"malformed"});
}

TEST(NpyTest, AbsurdShape) {
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", ""),
                {"absurd"});
}

TEST(NpyTest, UnsupportedLayoutsAndTypes) {
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", std::string(16, '\0')),
                {"Fortran"});
    expectError(makeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,)}", "abcd"), {"big-endian"});
    expectError(makeNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", "abcdabcd"),
                {"unsupported"});
    expectError(makeNpy("{'descr': '<U5', 'fortran_order': False, 'shape': (1,)}", "abcd"), {"unsupported"});
    expectError(makeNpy("{'descr': 'f4', 'fortran_order': False, 'shape': (1,)}", "abcd"), {"unsupported"});
}

TEST(NpyTest, DataSizeMismatch) {
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "abcd"),
                {"data size mismatch"});
    expectError(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "abcdabcd"),
                {"data size mismatch"});
}

TEST(NpyTest, WriteRejectsTypesWithoutNumpySpelling) {
    const fs::path dir = testDir();
    EXPECT_THROW(writeNpy(dir / "b.npy", Tensor::zeros(DType::BF16, {2})), Error);
    EXPECT_THROW(writeNpy(dir / "missing" / "b.npy", Tensor::zeros(DType::F32, {2})), Error);
    EXPECT_TRUE(fs::is_empty(dir));
}
