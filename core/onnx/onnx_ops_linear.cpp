// SPDX-License-Identifier: MIT
// Conv (im2col + Eigen GEMM), Gemm and batched MatMul.
#include "onnx/onnx_ops.h"
#include "onnx/onnx_window.h"

#include "base/error.h"

#include <Eigen/Dense>

#include <algorithm>

namespace qs::core::onnx_ops {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat>;
using MMap = Eigen::Map<RowMat>;

} // namespace

std::vector<OnnxValue> conv(const OpArgs& a) {
    const OnnxValue& x = a.floatIn(0);
    const OnnxValue& w = a.floatIn(1);
    const OnnxValue* b = a.opt(2);
    if (x.shape.size() < 3 || x.shape.size() > 4)
        throw Error("Conv input " + shapeToString(x.shape) + ": expected [N, C, W] or [N, C, H, W]");
    if (w.shape.size() != x.shape.size())
        throw Error("Conv weight " + shapeToString(w.shape) + " does not match input " + shapeToString(x.shape));
    const std::int64_t group = a.node.attrInt("group", 1);
    const std::int64_t n = x.shape[0], c = x.shape[1], m = w.shape[0];
    if (group < 1 || c % group || m % group || w.shape[1] != c / group)
        throw Error("Conv weight " + shapeToString(w.shape) + " does not fit input " + shapeToString(x.shape) +
                    " with group " + std::to_string(group));
    const std::vector<std::int64_t> spatial(x.shape.begin() + 2, x.shape.end());
    std::vector<std::int64_t> kernel(w.shape.begin() + 2, w.shape.end());
    if (a.node.has("kernel_shape") && a.node.attrInts("kernel_shape") != kernel)
        throw Error("Conv kernel_shape does not match weight " + shapeToString(w.shape));
    const Window2d win = resolveWindow(a.node, spatial, kernel, false);
    if (b && !b->isInt && b->numel() != m)
        throw Error("Conv bias " + shapeToString(b->shape) + " does not match " + std::to_string(m) + " outputs");

    const std::int64_t cg = c / group, mg = m / group;
    const std::int64_t kk = cg * win.kh * win.kw, hw = win.outH * win.outW;
    Shape outShape{n, m};
    if (x.shape.size() == 4) outShape.push_back(win.outH);
    outShape.push_back(win.outW);
    std::vector<float> out(static_cast<std::size_t>(n * m * hw));

    // One image per iteration: each thread fills its own column buffer; Eigen runs single-threaded
    // inside the parallel region, so results do not depend on the thread count.
#pragma omp parallel
    {
        std::vector<float> col(static_cast<std::size_t>(kk * hw));
#pragma omp for schedule(static)
        for (std::int64_t img = 0; img < n; ++img) {
            for (std::int64_t g = 0; g < group; ++g) {
                const float* src = x.f.data() + (img * c + g * cg) * win.inH * win.inW;
                // im2col: row (ci, ky, kx), column (oy, ox); zero where the window is in the padding.
                for (std::int64_t ci = 0; ci < cg; ++ci)
                    for (std::int64_t ky = 0; ky < win.kh; ++ky)
                        for (std::int64_t kx = 0; kx < win.kw; ++kx) {
                            float* dst = col.data() + ((ci * win.kh + ky) * win.kw + kx) * hw;
                            for (std::int64_t oy = 0; oy < win.outH; ++oy) {
                                const std::int64_t iy = oy * win.sh - win.padTop + ky * win.dh;
                                for (std::int64_t ox = 0; ox < win.outW; ++ox) {
                                    const std::int64_t ix = ox * win.sw - win.padLeft + kx * win.dw;
                                    dst[oy * win.outW + ox] =
                                        (iy >= 0 && iy < win.inH && ix >= 0 && ix < win.inW)
                                            ? src[(ci * win.inH + iy) * win.inW + ix]
                                            : 0.0f;
                                }
                            }
                        }
                MMap y(out.data() + (img * m + g * mg) * hw, mg, hw);
                y.noalias() = CMap(w.f.data() + g * mg * kk, mg, kk) * CMap(col.data(), kk, hw);
                if (b)
                    for (std::int64_t o = 0; o < mg; ++o) y.row(o).array() += b->f[g * mg + o];
            }
        }
    }
    std::vector<OnnxValue> r;
    r.push_back(OnnxValue::floats(outShape, std::move(out)));
    return r;
}

std::vector<OnnxValue> gemm(const OpArgs& a) {
    const OnnxValue& A = a.floatIn(0);
    const OnnxValue& B = a.floatIn(1);
    const OnnxValue* C = a.opt(2);
    if (A.shape.size() != 2 || B.shape.size() != 2)
        throw Error("Gemm needs 2-D inputs, got " + shapeToString(A.shape) + " and " + shapeToString(B.shape));
    const bool ta = a.node.attrInt("transA", 0) != 0, tb = a.node.attrInt("transB", 0) != 0;
    const float alpha = a.node.attrFloat("alpha", 1.0f), beta = a.node.attrFloat("beta", 1.0f);
    const std::int64_t m = ta ? A.shape[1] : A.shape[0], k = ta ? A.shape[0] : A.shape[1];
    const std::int64_t kb = tb ? B.shape[1] : B.shape[0], n = tb ? B.shape[0] : B.shape[1];
    if (k != kb)
        throw Error("Gemm inner dimensions differ: A " + shapeToString(A.shape) + (ta ? " (transposed)" : "") +
                    ", B " + shapeToString(B.shape) + (tb ? " (transposed)" : ""));
    std::vector<float> out(static_cast<std::size_t>(m * n));
    MMap y(out.data(), m, n);
    const CMap am(A.f.data(), A.shape[0], A.shape[1]), bm(B.f.data(), B.shape[0], B.shape[1]);
    if (ta && tb) y.noalias() = am.transpose() * bm.transpose();
    else if (ta) y.noalias() = am.transpose() * bm;
    else if (tb) y.noalias() = am * bm.transpose();
    else y.noalias() = am * bm;
    if (alpha != 1.0f) y *= alpha;
    if (C && beta != 0.0f) {
        if (C->isInt) throw Error("Gemm C must be float");
        const Shape so{m, n};
        if (broadcastShapes(so, C->shape) != so)
            throw Error("Gemm C " + shapeToString(C->shape) + " does not broadcast to " + shapeToString(so));
        // C is [n], [1, n], [m, 1], [m, n] or a scalar: index with zero strides on broadcast dims.
        const Shape cs = C->shape.size() == 2 ? C->shape
                         : C->shape.size() == 1 ? Shape{1, C->shape[0]}
                                                : Shape{1, 1};
        const std::int64_t rs = cs[0] == 1 ? 0 : cs[1], cstr = cs[1] == 1 ? 0 : 1;
        for (std::int64_t i = 0; i < m; ++i)
            for (std::int64_t j = 0; j < n; ++j) y(i, j) += beta * C->f[i * rs + j * cstr];
    }
    std::vector<OnnxValue> r;
    r.push_back(OnnxValue::floats({m, n}, std::move(out)));
    return r;
}

std::vector<OnnxValue> matMul(const OpArgs& a) {
    const OnnxValue& A = a.floatIn(0);
    const OnnxValue& B = a.floatIn(1);
    if (A.shape.empty() || B.shape.empty()) throw Error("MatMul inputs must have at least one dimension");
    // numpy.matmul: a 1-D left operand is a row, a 1-D right operand a column; both extra dims drop.
    Shape as = A.shape, bs = B.shape;
    if (as.size() == 1) as.insert(as.begin(), 1);
    if (bs.size() == 1) bs.push_back(1);
    const std::int64_t m = as[as.size() - 2], k = as.back(), kb = bs[bs.size() - 2], n = bs.back();
    if (k != kb)
        throw Error("MatMul inner dimensions differ: " + shapeToString(A.shape) + " x " + shapeToString(B.shape));
    const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    const Shape batch = broadcastShapes(ab, bb);
    const std::int64_t nb = numel(batch);
    // Offsets of each batch entry in A and B (broadcast dims repeat the same matrix).
    auto offsets = [&](const Shape& s, std::int64_t matSize) {
        std::vector<std::int64_t> off(static_cast<std::size_t>(nb));
        const std::size_t r = batch.size(), pad = r - s.size();
        for (std::int64_t idx = 0; idx < nb; ++idx) {
            std::int64_t rem = idx, o = 0, stride = matSize;
            for (std::size_t d = r; d-- > 0;) {
                const std::int64_t coord = rem % batch[d];
                rem /= batch[d];
                if (d >= pad) {
                    const std::int64_t sd = s[d - pad];
                    if (sd != 1) o += coord * stride;
                    stride *= sd;
                }
            }
            off[static_cast<std::size_t>(idx)] = o;
        }
        return off;
    };
    const auto offA = offsets(ab, m * k), offB = offsets(bb, k * n);
    std::vector<float> out(static_cast<std::size_t>(nb * m * n));
#pragma omp parallel for schedule(static) if (nb > 1)
    for (std::int64_t i = 0; i < nb; ++i) {
        MMap y(out.data() + i * m * n, m, n);
        y.noalias() = CMap(A.f.data() + offA[static_cast<std::size_t>(i)], m, k) *
                      CMap(B.f.data() + offB[static_cast<std::size_t>(i)], k, n);
    }
    Shape outShape = batch;
    if (A.shape.size() > 1) outShape.push_back(m);
    if (B.shape.size() > 1) outShape.push_back(n);
    std::vector<OnnxValue> r;
    r.push_back(OnnxValue::floats(outShape, std::move(out)));
    return r;
}

} // namespace qs::core::onnx_ops
