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

} // namespace qs::core
