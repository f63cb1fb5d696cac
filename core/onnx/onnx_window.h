// SPDX-License-Identifier: MIT
#pragma once
#include "onnx/onnx_graph.h"

#include <cstdint>

namespace qs::core::onnx_ops {

/// The 2-D sliding window of Conv and the pooling operators after resolving auto_pad, pads,
/// strides, dilations and ceil_mode against an input of size inH x inW. 1-D operators run as
/// 2-D ones with a height of 1.
struct Window2d {
    std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
    std::int64_t padTop = 0, padLeft = 0, padBottom = 0, padRight = 0;
    std::int64_t inH = 1, inW = 1, outH = 1, outW = 1;
};

/// Resolves the window of `node` for a spatial input of `spatialDims` (1 or 2 dims, inH/inW) and
/// kernel size kernel (1 or 2 dims). `ceilMode` is honoured for pooling. Throws Error for 3-D
/// windows, bad attribute lengths or an empty output.
Window2d resolveWindow(const OnnxNode& node, const std::vector<std::int64_t>& spatial,
                       const std::vector<std::int64_t>& kernel, bool allowCeil);

} // namespace qs::core::onnx_ops
