// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qs::core {

/// Calibration sequences (the GPTQ protocol of fixtures/README.md 2.6): the first `windows`
/// non-overlapping windows of `ctx` tokens of a token stream, each run as its own sequence.
struct CalibrationData {
    std::vector<std::vector<std::int32_t>> windows; ///< each exactly ctx tokens
    int ctx = 0;
    std::filesystem::path file; ///< where the tokens came from (empty when built in memory)
    std::string source;         ///< what was read ("text, ..." / "npy int32 ...")

    /// Total tokens = windows * ctx.
    std::int64_t tokens() const { return static_cast<std::int64_t>(windows.size()) * ctx; }
    /// "32 windows x 128 tokens of FILE".
    std::string summary() const;
};

/// The first `windows` windows of `ctx` tokens of `tokens`. Throws Error when fewer are available
/// (`what` names the data in the message) or ctx < 2.
CalibrationData calibrationWindows(const std::vector<std::int32_t>& tokens, int ctx, long long windows,
                                   const std::string& what);

/// Reads text (encoded with the tokenizer of `model`, a model directory or .gguf as Model::path(), as
/// one string) or a token .npy and takes its first
/// `windows` windows of `ctx` tokens. Throws Error naming the file.
CalibrationData loadCalibrationData(const std::filesystem::path& file, const std::filesystem::path& model, int ctx,
                                    long long windows);

} // namespace qs::core
