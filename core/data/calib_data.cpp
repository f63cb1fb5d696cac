// SPDX-License-Identifier: MIT
#include "data/calib_data.h"

#include "data/token_data.h"
#include "data/windows.h"
#include "base/error.h"

namespace qs::core {

std::string CalibrationData::summary() const {
    return std::to_string(windows.size()) + " windows x " + std::to_string(ctx) + " tokens" +
           (file.empty() ? "" : " of " + file.string());
}

CalibrationData calibrationWindows(const std::vector<std::int32_t>& tokens, int ctx, long long windows,
                                   const std::string& what) {
    if (windows < 1) throw Error(what + ": --calib-windows must be >= 1");
    EvalOptions opts;
    opts.ctx = ctx;
    opts.maxWindows = windows;
    const auto spans = splitWindows(tokens, opts);
    if (static_cast<long long>(spans.size()) < windows)
        throw Error(what + ": holds " + std::to_string(tokens.size()) + " tokens = " + std::to_string(spans.size()) +
                    " windows of " + std::to_string(ctx) + ", but " + std::to_string(windows) +
                    " calibration windows were asked for");
    CalibrationData d;
    d.ctx = ctx;
    for (const auto& s : spans) d.windows.emplace_back(s.begin(), s.end());
    return d;
}

CalibrationData loadCalibrationData(const std::filesystem::path& file, const std::filesystem::path& model, int ctx,
                                    long long windows) {
    std::string source;
    const std::vector<std::int32_t> tokens = readTokenData(file, model, source);
    CalibrationData d = calibrationWindows(tokens, ctx, windows, "calibration data " + file.string());
    d.file = file;
    d.source = source;
    return d;
}

} // namespace qs::core
