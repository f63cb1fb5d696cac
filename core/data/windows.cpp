// SPDX-License-Identifier: MIT
#include "data/windows.h"

#include "base/error.h"

#include <algorithm>
#include <string>

namespace qs::core {

std::vector<std::span<const std::int32_t>> splitWindows(std::span<const std::int32_t> tokens,
                                                        const EvalOptions& opts) {
    if (opts.ctx < 2)
        throw Error("evaluation context must be at least 2 tokens, got " + std::to_string(opts.ctx));
    if (opts.maxWindows < 0) throw Error("number of windows must not be negative");
    if (opts.scoreFrom < 1 || opts.scoreFrom >= opts.ctx)
        throw Error("the first scored position must lie in 1.." + std::to_string(opts.ctx - 1) + ", got " +
                    std::to_string(opts.scoreFrom));
    const auto ctx = static_cast<std::size_t>(opts.ctx);
    std::size_t n = tokens.size() / ctx;
    if (opts.maxWindows > 0) n = std::min(n, static_cast<std::size_t>(opts.maxWindows));
    if (n == 0)
        throw Error("the data holds " + std::to_string(tokens.size()) + " tokens, fewer than one window of " +
                    std::to_string(ctx));
    std::vector<std::span<const std::int32_t>> windows;
    windows.reserve(n);
    for (std::size_t k = 0; k < n; ++k)
        windows.push_back(tokens.subspan(k * ctx, ctx));
    return windows;
}

const ParamSpec& computeParam() {
    static const ParamSpec spec{"compute", ParamType::Choice, "f32", 0, 0, {"f32", "bf16"},
                                "the products of Linears and the head: float32, or bf16 operands with float32 sums "
                                "(AMX tiles where present), for the reference and the quantized model alike",
                                "Products"};
    return spec;
}

bool bf16ComputeFromParams(const nlohmann::json& values) {
    return values.value("compute", "f32") == "bf16";
}

const ParamSchema& evalOptionsSchema() {
    static const ParamSchema schema{
        {"ctx", ParamType::Int, 128, 2, 1 << 16, {}, "tokens per evaluation window", "Context"},
        {"windows", ParamType::Int, 0, 0, 1e9, {}, "evaluate at most this many windows; 0 = every full window",
         "Windows"},
        {"calib_windows", ParamType::Int, 128, 1, 1e6, {},
         "windows of the calibration data a calibrated method (GPTQ) sees, ctx tokens each", "Calibration windows"},
        computeParam(),
    };
    return schema;
}

EvalOptions evalOptionsFromJson(const nlohmann::json& values, const std::string& owner) {
    const nlohmann::json v = validateParams(evalOptionsSchema(), values, owner);
    EvalOptions o;
    o.ctx = v.at("ctx").get<int>();
    o.maxWindows = v.at("windows").get<long long>();
    o.bf16Products = bf16ComputeFromParams(v);
    return o;
}

} // namespace qs::core
