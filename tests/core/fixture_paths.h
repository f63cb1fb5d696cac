// SPDX-License-Identifier: MIT
#pragma once
#include <filesystem>
#include <string>

namespace qs::test {

/// The shared fixtures folder (../shared/fixtures beside the checkout).
inline std::filesystem::path fixtures() { return QS_FIXTURES_DIR; }
/// The tiny trained Llama of the fixtures.
inline std::filesystem::path tinyLlama() { return fixtures() / "tinyllama-bpe512"; }
/// A fresh, empty folder for one test's output.
inline std::filesystem::path outputDir(const std::string& name) {
    auto p = std::filesystem::path(QS_TEST_OUTPUT_DIR) / name;
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

} // namespace qs::test
