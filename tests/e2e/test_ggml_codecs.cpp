// SPDX-License-Identifier: MIT
// Every GGUF block type this engine reads, dequantized as llama.cpp's own ggml dequantizes it
// (dequantize_row_* from node-llama-cpp's prebuilt libggml-base, pinned in tests/llamacpp and
// installed by scripts/install-deps.sh): the same bits for pseudo-random blocks whose half-precision
// scales are finite numbers of every size and sign.
#include "io/gguf.h"
#include "tensor/half.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

using namespace qs::core;

namespace {

std::filesystem::path ggmlLibrary() {
    return std::filesystem::path(QS_SOURCE_DIR) / "tests" / "llamacpp" / "node_modules" / "@node-llama-cpp" /
           "linux-x64" / "bins" / "linux-x64" / "libggml-base.so";
}

// Where each type keeps its half-precision scales inside a block (ggml-common.h).
struct HalfFields {
    GgufType type;
    std::vector<int> offsets;
};

const std::vector<HalfFields> kTypes{
    {GgufType::Q4_0, {0}},     {GgufType::Q4_1, {0, 2}}, {GgufType::Q5_0, {0}},      {GgufType::Q5_1, {0, 2}},
    {GgufType::Q8_0, {0}},     {GgufType::Q2_K, {80, 82}}, {GgufType::Q3_K, {108}}, {GgufType::Q4_K, {0, 2}},
    {GgufType::Q5_K, {0, 2}}, {GgufType::Q6_K, {208}},
};

using GgmlDequantize = void (*)(const void* src, float* dst, std::int64_t n);

} // namespace

TEST(GgmlCodecs, BlockTypesDequantizeAsLlamaCpp) {
    ASSERT_TRUE(std::filesystem::exists(ggmlLibrary()))
        << ggmlLibrary() << " is missing: run scripts/install-deps.sh (npm ci in tests/llamacpp)";
    void* ggml = dlopen(ggmlLibrary().c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(ggml, nullptr) << dlerror();
    std::mt19937 rng(12);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const HalfFields& t : kTypes) {
        const GgufTypeTraits& traits = ggufTypeTraits(t.type);
        ASSERT_NE(traits.dequantize, nullptr) << traits.name;
        std::string symbol = std::string("dequantize_row_") + traits.name; // q4_0, q2_K: ggml's spelling
        symbol[15] = static_cast<char>(std::tolower(symbol[15]));
        const auto reference = reinterpret_cast<GgmlDequantize>(dlsym(ggml, symbol.c_str()));
        ASSERT_NE(reference, nullptr) << symbol;
        const std::int64_t blocks = 64, n = blocks * traits.blockSize;
        std::vector<std::byte> data(static_cast<std::size_t>(blocks * traits.blockBytes));
        for (std::byte& b : data) b = static_cast<std::byte>(rng() & 0xFF);
        for (std::int64_t k = 0; k < blocks; ++k)
            for (int offset : t.offsets) {
                // Normal halves over many binades, subnormals, zero and both signs.
                const float value = k % 16 == 0 ? 0.0f : k % 16 == 1 ? 3e-7f : normal(rng) * std::ldexp(1.0f, static_cast<int>(k % 12) - 8);
                const std::uint16_t h = f32ToF16(value);
                std::memcpy(data.data() + k * traits.blockBytes + offset, &h, 2);
            }
        std::vector<float> ours(static_cast<std::size_t>(n)), theirs(static_cast<std::size_t>(n));
        traits.dequantize(data.data(), ours.data(), n);
        reference(data.data(), theirs.data(), n);
        std::size_t mismatches = 0, first = ours.size();
        for (std::size_t i = 0; i < ours.size(); ++i)
            if (std::bit_cast<std::uint32_t>(ours[i]) != std::bit_cast<std::uint32_t>(theirs[i]))
                ++mismatches, first = std::min(first, i);
        EXPECT_EQ(mismatches, 0u) << traits.name << ": the first at element " << first;
    }
    dlclose(ggml);
}
