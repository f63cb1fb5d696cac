// SPDX-License-Identifier: MIT
#include "onnx/onnx_window.h"

#include "base/error.h"

namespace qs::core::onnx_ops {

namespace {

// Output size and begin/end pads of one axis.
void resolveAxis(const std::string& autoPad, std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d,
                 bool ceilMode, std::int64_t& pBegin, std::int64_t& pEnd, std::int64_t& out) {
    const std::int64_t span = (k - 1) * d + 1;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        out = (in + s - 1) / s;
        const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * s + span - in);
        pBegin = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
        pEnd = total - pBegin;
        return;
    }
    if (autoPad == "VALID") pBegin = pEnd = 0;
    const std::int64_t room = in + pBegin + pEnd - span;
    if (room < 0) {
        out = 0;
        return;
    }
    out = (ceilMode ? (room + s - 1) / s : room / s) + 1;
    // A ceil-mode window must start inside the input or its begin padding.
    if (ceilMode && (out - 1) * s >= in + pBegin) --out;
}

} // namespace

Window2d resolveWindow(const OnnxNode& node, const std::vector<std::int64_t>& spatial,
                       const std::vector<std::int64_t>& kernel, bool allowCeil) {
    const std::size_t nd = spatial.size();
    if (nd < 1 || nd > 2)
        throw Error(std::to_string(nd) + "-D windows are not supported (only 1-D and 2-D)");
    if (kernel.size() != nd)
        throw Error("kernel has " + std::to_string(kernel.size()) + " spatial dims, input has " +
                    std::to_string(nd));
    auto list = [&](const char* key, std::size_t n, std::int64_t def) {
        auto v = node.attrInts(key, std::vector<std::int64_t>(n, def));
        if (v.size() != n)
            throw Error(std::string("attribute '") + key + "' has " + std::to_string(v.size()) +
                        " values, expected " + std::to_string(n));
        return v;
    };
    const auto strides = list("strides", nd, 1);
    const auto dil = list("dilations", nd, 1);
    const auto pads = list("pads", 2 * nd, 0);
    const std::string autoPad = node.attrString("auto_pad", "NOTSET");
    if (autoPad != "NOTSET" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER" && autoPad != "VALID")
        throw Error("unknown auto_pad '" + autoPad + "'");
    const bool ceilMode = allowCeil && node.attrInt("ceil_mode", 0) != 0;
    for (std::size_t i = 0; i < nd; ++i)
        if (kernel[i] < 1 || strides[i] < 1 || dil[i] < 1 || pads[i] < 0 || pads[i + nd] < 0)
            throw Error("kernel, strides and dilations must be positive and pads non-negative");

    Window2d w;
    // Axis 0 of a 1-D window is the width; the height stays 1.
    const std::size_t wAxis = nd - 1;
    w.kw = kernel[wAxis], w.sw = strides[wAxis], w.dw = dil[wAxis], w.inW = spatial[wAxis];
    w.padLeft = pads[wAxis], w.padRight = pads[wAxis + nd];
    resolveAxis(autoPad, w.inW, w.kw, w.sw, w.dw, ceilMode, w.padLeft, w.padRight, w.outW);
    if (nd == 2) {
        w.kh = kernel[0], w.sh = strides[0], w.dh = dil[0], w.inH = spatial[0];
        w.padTop = pads[0], w.padBottom = pads[2];
        resolveAxis(autoPad, w.inH, w.kh, w.sh, w.dh, ceilMode, w.padTop, w.padBottom, w.outH);
    }
    if (w.outH < 1 || w.outW < 1)
        throw Error("the window (" + std::to_string(w.kh) + "x" + std::to_string(w.kw) +
                    ") is larger than the padded input (" + std::to_string(w.inH) + "x" + std::to_string(w.inW) +
                    ")");
    return w;
}

} // namespace qs::core::onnx_ops
