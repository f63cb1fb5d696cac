// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace qs::test {

/// The shared fixtures folder (../shared/fixtures beside the checkout).
inline std::filesystem::path fixtures() { return QS_FIXTURES_DIR; }
/// The tiny trained Llama of the fixtures.
inline std::filesystem::path tinyLlama() { return fixtures() / "tinyllama-bpe512"; }
/// Bytes per value of the fixture's Linear weights as its model.safetensors stores them (read from
/// the file's header: BF16/F16 2, F32 4), which is what a forward pass holds them in until they are
/// replaced (e.g. quantized).
inline long long fixtureLinearBytesPerValue() {
    std::ifstream f(tinyLlama() / "model.safetensors", std::ios::binary);
    std::uint64_t n = 0;
    f.read(reinterpret_cast<char*>(&n), sizeof n);
    std::string header(static_cast<std::size_t>(n), '\0');
    f.read(header.data(), static_cast<std::streamsize>(n));
    const std::string dtype = nlohmann::json::parse(header).at("model.layers.0.mlp.up_proj.weight").at("dtype");
    return dtype == "F32" ? 4 : 2;
}

/// A fresh, empty folder for one test's output.
inline std::filesystem::path outputDir(const std::string& name) {
    auto p = std::filesystem::path(QS_TEST_OUTPUT_DIR) / name;
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

} // namespace qs::test
