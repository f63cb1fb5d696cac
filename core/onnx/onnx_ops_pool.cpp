// SPDX-License-Identifier: MIT
// MaxPool, AveragePool and GlobalAveragePool over NCHW (or NCW) inputs.
#include "onnx/onnx_ops.h"
#include "onnx/onnx_window.h"

#include "base/error.h"

#include <algorithm>
#include <limits>

namespace qs::core::onnx_ops {

namespace {

enum class PoolKind { Max, Average };

std::vector<OnnxValue> pool(const OpArgs& a, PoolKind kind) {
    const OnnxValue& x = a.floatIn(0);
    if (a.node.outputs.size() > 1 && !a.node.outputs[1].empty())
        throw Error("the Indices output of MaxPool is not supported");
    if (x.shape.size() < 3 || x.shape.size() > 4)
        throw Error("pooling input " + shapeToString(x.shape) + ": expected [N, C, W] or [N, C, H, W]");
    if (!a.node.has("kernel_shape")) throw Error("missing attribute 'kernel_shape'");
    const std::vector<std::int64_t> spatial(x.shape.begin() + 2, x.shape.end());
    const Window2d w = resolveWindow(a.node, spatial, a.node.attrInts("kernel_shape"), true);
    const bool includePad = a.node.attrInt("count_include_pad", 0) != 0;
    const std::int64_t planes = x.shape[0] * x.shape[1];
    Shape outShape{x.shape[0], x.shape[1]};
    if (x.shape.size() == 4) outShape.push_back(w.outH);
    outShape.push_back(w.outW);
    std::vector<float> out(static_cast<std::size_t>(planes * w.outH * w.outW));
#pragma omp parallel for schedule(static)
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* src = x.f.data() + p * w.inH * w.inW;
        float* dst = out.data() + p * w.outH * w.outW;
        for (std::int64_t oy = 0; oy < w.outH; ++oy)
            for (std::int64_t ox = 0; ox < w.outW; ++ox) {
                float best = -std::numeric_limits<float>::infinity();
                float sum = 0.0f;
                std::int64_t inside = 0, padded = 0;
                for (std::int64_t ky = 0; ky < w.kh; ++ky) {
                    const std::int64_t iy = oy * w.sh - w.padTop + ky * w.dh;
                    for (std::int64_t kx = 0; kx < w.kw; ++kx) {
                        const std::int64_t ix = ox * w.sw - w.padLeft + kx * w.dw;
                        // count_include_pad counts the explicit padding, not the ceil-mode overhang.
                        if (iy >= -w.padTop && iy < w.inH + w.padBottom && ix >= -w.padLeft &&
                            ix < w.inW + w.padRight)
                            ++padded;
                        if (iy < 0 || iy >= w.inH || ix < 0 || ix >= w.inW) continue;
                        const float v = src[iy * w.inW + ix];
                        best = std::max(best, v);
                        sum += v;
                        ++inside;
                    }
                }
                const std::int64_t count = includePad ? padded : inside;
                dst[oy * w.outW + ox] = kind == PoolKind::Max ? best
                                        : count ? sum / static_cast<float>(count)
                                                : 0.0f;
            }
    }
    std::vector<OnnxValue> r;
    r.push_back(OnnxValue::floats(outShape, std::move(out)));
    return r;
}

} // namespace

std::vector<OnnxValue> maxPool(const OpArgs& a) { return pool(a, PoolKind::Max); }
std::vector<OnnxValue> averagePool(const OpArgs& a) { return pool(a, PoolKind::Average); }

std::vector<OnnxValue> globalAveragePool(const OpArgs& a) {
    const OnnxValue& x = a.floatIn(0);
    if (x.shape.size() < 3) throw Error("GlobalAveragePool input " + shapeToString(x.shape) + " has no spatial dims");
    const std::int64_t planes = x.shape[0] * x.shape[1], size = x.numel() / std::max<std::int64_t>(planes, 1);
    Shape outShape(x.shape.size(), 1);
    outShape[0] = x.shape[0], outShape[1] = x.shape[1];
    std::vector<float> out(static_cast<std::size_t>(planes));
    for (std::int64_t p = 0; p < planes; ++p) {
        double s = 0;
        for (std::int64_t i = 0; i < size; ++i) s += x.f[static_cast<std::size_t>(p * size + i)];
        out[static_cast<std::size_t>(p)] = static_cast<float>(s / static_cast<double>(size));
    }
    std::vector<OnnxValue> r;
    r.push_back(OnnxValue::floats(outShape, std::move(out)));
    return r;
}

} // namespace qs::core::onnx_ops
