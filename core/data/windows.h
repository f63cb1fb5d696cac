// SPDX-License-Identifier: MIT
// The evaluation protocol's windows: how a token stream is cut into independent sequences.
#pragma once
#include "base/param_schema.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <span>
#include <vector>

namespace qs::core {

/// How a token stream is evaluated (the protocol of fixtures/README.md section 2.4): non-overlapping
/// windows of `ctx` tokens, each an independent sequence (positions 0..ctx-1); the logits at positions
/// 0..ctx-2 score the tokens at 1..ctx-1, so the first token of every window is not scored.
struct EvalOptions {
    int ctx = 128;            ///< tokens per window
    long long maxWindows = 0; ///< evaluate at most this many windows; 0 = every full window
    /// First position of a window whose token is scored (1: all but the first; llama-perplexity
    /// scores only the second half, ctx/2 + 1 on). Not a sweep key: the protocols set it.
    int scoreFrom = 1;
    /// compute "bf16": every Linear and the LM head on bf16 operands with float32 sums
    /// (ForwardHooks::bf16Products), for the reference and the quantized models alike; "f32" (false):
    /// float32 products.
    bool bf16Products = false;

    /// Scored tokens per window.
    int scoredPerWindow() const { return ctx - scoreFrom; }
};

/// The full windows of `tokens` (a trailing partial window is dropped), at most opts.maxWindows.
/// Throws Error when ctx < 2 or the stream holds no full window.
std::vector<std::span<const std::int32_t>> splitWindows(std::span<const std::int32_t> tokens,
                                                        const EvalOptions& opts);

/// The products' precision, declared once for every owner that evaluates (the evaluation settings,
/// the sensitivity analysis): "compute", f32 (default) or bf16 (EvalOptions::bf16Products).
const ParamSpec& computeParam();
/// Whether validated values of a schema holding computeParam() ask for bf16 products.
bool bf16ComputeFromParams(const nlohmann::json& values);

/// The evaluation settings, declared once (the CLI's --ctx, --windows, --calib-windows; the GUI's
/// Evaluation form; sweep eval keys): ctx (tokens per window, default 128), windows (at most this
/// many, 0 = every full window), calib_windows (calibration windows a calibrated method sees, 128),
/// compute (the products' precision: f32 or bf16).
const ParamSchema& evalOptionsSchema();

/// EvalOptions from validated values of evalOptionsSchema() (missing keys take their defaults).
/// Throws Error prefixed by `owner` for a value out of range.
EvalOptions evalOptionsFromJson(const nlohmann::json& values, const std::string& owner);

} // namespace qs::core
