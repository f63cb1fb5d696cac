// SPDX-License-Identifier: MIT
// Broadcasting arithmetic, activations, Softmax, BatchNormalization and LayerNormalization.
#include "onnx/onnx_ops.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace qs::core::onnx_ops {

namespace {

std::vector<OnnxValue> one(OnnxValue v) {
    std::vector<OnnxValue> r;
    r.push_back(std::move(v));
    return r;
}

// Strides of `s` aligned right against an output of rank `rank`, 0 on broadcast dims.
std::vector<std::int64_t> broadcastStrides(const Shape& s, std::size_t rank) {
    std::vector<std::int64_t> st(rank, 0);
    std::int64_t stride = 1;
    for (std::size_t d = s.size(); d-- > 0;) {
        st[rank - s.size() + d] = s[d] == 1 ? 0 : stride;
        stride *= s[d];
    }
    return st;
}

template <class T, class F>
void broadcastApply(const std::vector<T>& a, const Shape& sa, const std::vector<T>& b, const Shape& sb,
                    const Shape& so, std::vector<T>& out, F f) {
    const std::int64_t n = numel(so);
    out.resize(static_cast<std::size_t>(n));
    if (sa == sb) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
        return;
    }
    if (numel(sb) == 1) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[0]);
        return;
    }
    const std::size_t rank = so.size();
    if (rank == 0) {
        out[0] = f(a[0], b[0]);
        return;
    }
    const auto stA = broadcastStrides(sa, rank), stB = broadcastStrides(sb, rank);
    const std::int64_t inner = so.back(), iA = stA.back(), iB = stB.back();
    std::vector<std::int64_t> coord(rank, 0);
    // Walk the outer coordinates like an odometer; the innermost dim is a plain strided loop.
    for (std::int64_t base = 0; base < n; base += inner) {
        std::int64_t oa = 0, ob = 0;
        for (std::size_t d = 0; d + 1 < rank; ++d) oa += coord[d] * stA[d], ob += coord[d] * stB[d];
        for (std::int64_t j = 0; j < inner; ++j) out[base + j] = f(a[oa + j * iA], b[ob + j * iB]);
        for (std::size_t d = rank - 1; d-- > 0;) {
            if (++coord[d] < so[d]) break;
            coord[d] = 0;
        }
    }
}

template <class FF, class FI> std::vector<OnnxValue> binary(const OpArgs& a, FF ff, FI fi) {
    const OnnxValue& x = a.need(0);
    const OnnxValue& y = a.need(1);
    if (x.isInt != y.isInt) throw Error("mixes int64 and float inputs");
    OnnxValue r;
    r.shape = broadcastShapes(x.shape, y.shape);
    r.isInt = x.isInt;
    if (x.isInt)
        broadcastApply(x.i, x.shape, y.i, y.shape, r.shape, r.i, fi);
    else
        broadcastApply(x.f, x.shape, y.f, y.shape, r.shape, r.f, ff);
    return one(std::move(r));
}

template <class F> std::vector<OnnxValue> unary(const OpArgs& a, F f) {
    OnnxValue r = a.floatIn(0);
    for (float& v : r.f) v = f(v);
    return one(std::move(r));
}

} // namespace

Shape broadcastShapes(const Shape& a, const Shape& b) {
    const std::size_t r = std::max(a.size(), b.size());
    Shape s(r);
    for (std::size_t i = 0; i < r; ++i) {
        const std::int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const std::int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (da != db && da != 1 && db != 1)
            throw Error("shapes " + shapeToString(a) + " and " + shapeToString(b) + " do not broadcast");
        s[i] = da == 1 ? db : da;
    }
    return s;
}

std::int64_t normAxis(std::int64_t axis, std::size_t rank, const char* what) {
    const auto r = static_cast<std::int64_t>(rank);
    if (axis < -r || axis >= r)
        throw Error(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
    return axis < 0 ? axis + r : axis;
}

std::vector<OnnxValue> add(const OpArgs& a) {
    return binary(a, std::plus<float>(), std::plus<std::int64_t>());
}
std::vector<OnnxValue> sub(const OpArgs& a) {
    return binary(a, std::minus<float>(), std::minus<std::int64_t>());
}
std::vector<OnnxValue> mul(const OpArgs& a) {
    return binary(a, std::multiplies<float>(), std::multiplies<std::int64_t>());
}
std::vector<OnnxValue> div(const OpArgs& a) {
    return binary(a, std::divides<float>(), [](std::int64_t p, std::int64_t q) {
        if (q == 0) throw Error("integer division by zero");
        return p / q;
    });
}

std::vector<OnnxValue> relu(const OpArgs& a) {
    return unary(a, [](float v) { return v > 0.0f ? v : (v == v ? 0.0f : v); });
}
std::vector<OnnxValue> sigmoid(const OpArgs& a) {
    return unary(a, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
}
std::vector<OnnxValue> tanhOp(const OpArgs& a) {
    return unary(a, [](float v) { return std::tanh(v); });
}
std::vector<OnnxValue> erfOp(const OpArgs& a) {
    return unary(a, [](float v) { return std::erf(v); });
}
std::vector<OnnxValue> sqrtOp(const OpArgs& a) {
    return unary(a, [](float v) { return std::sqrt(v); });
}

std::vector<OnnxValue> gelu(const OpArgs& a) {
    const std::string approx = a.node.attrString("approximate", "none");
    if (approx == "tanh")
        return unary(a, [](float v) {
            const double x = v;
            return static_cast<float>(0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))));
        });
    if (approx != "none") throw Error("unknown Gelu approximation '" + approx + "'");
    return unary(a, [](float v) {
        const double x = v;
        return static_cast<float>(0.5 * x * (1.0 + std::erf(x * 0.7071067811865476)));
    });
}

std::vector<OnnxValue> softmax(const OpArgs& a) {
    OnnxValue r = a.floatIn(0);
    const std::size_t rank = r.shape.size();
    if (rank == 0) throw Error("Softmax of a scalar");
    // Opset < 13 flattens to 2-D at `axis` (default 1); opset 13 takes one axis (default -1).
    const bool legacy = a.opset > 0 && a.opset < 13;
    const std::int64_t axis = normAxis(a.node.attrInt("axis", legacy ? 1 : -1), rank, "Softmax axis");
    std::int64_t outer = 1, len = 1, inner = 1;
    for (std::size_t d = 0; d < rank; ++d) {
        const std::int64_t s = r.shape[d];
        if (static_cast<std::int64_t>(d) < axis) outer *= s;
        else if (legacy || static_cast<std::int64_t>(d) == axis) len *= s;
        else inner *= s;
    }
    for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t in = 0; in < inner; ++in) {
            float* p = r.f.data() + o * len * inner + in;
            float mx = -INFINITY;
            for (std::int64_t j = 0; j < len; ++j) mx = std::max(mx, p[j * inner]);
            double sum = 0;
            for (std::int64_t j = 0; j < len; ++j) {
                p[j * inner] = std::exp(p[j * inner] - mx);
                sum += p[j * inner];
            }
            for (std::int64_t j = 0; j < len; ++j) p[j * inner] = static_cast<float>(p[j * inner] / sum);
        }
    return one(std::move(r));
}

std::vector<OnnxValue> batchNorm(const OpArgs& a) {
    OnnxValue r = a.floatIn(0);
    const OnnxValue &scale = a.floatIn(1), &bias = a.floatIn(2), &mean = a.floatIn(3), &var = a.floatIn(4);
    if (a.node.attrInt("training_mode", 0) != 0) throw Error("training_mode=1 is not supported");
    if (a.node.outputs.size() > 1) throw Error("running mean/var outputs (training) are not supported");
    if (r.shape.size() < 2) throw Error("input " + shapeToString(r.shape) + " has no channel dim");
    const std::int64_t c = r.shape[1];
    for (const OnnxValue* p : {&scale, &bias, &mean, &var})
        if (p->numel() != c)
            throw Error("parameter " + shapeToString(p->shape) + " does not match " + std::to_string(c) + " channels");
    const float eps = a.node.attrFloat("epsilon", 1e-5f);
    const std::int64_t n = r.shape[0], inner = r.numel() / std::max<std::int64_t>(n * c, 1);
    for (std::int64_t ch = 0; ch < c; ++ch) {
        const float k = scale.f[ch] / std::sqrt(var.f[ch] + eps);
        for (std::int64_t b = 0; b < n; ++b) {
            float* p = r.f.data() + (b * c + ch) * inner;
            for (std::int64_t j = 0; j < inner; ++j) p[j] = (p[j] - mean.f[ch]) * k + bias.f[ch];
        }
    }
    return one(std::move(r));
}

std::vector<OnnxValue> layerNorm(const OpArgs& a) {
    OnnxValue r = a.floatIn(0);
    const OnnxValue& scale = a.floatIn(1);
    const OnnxValue* bias = a.opt(2);
    if (a.node.outputs.size() > 1 && !a.node.outputs[1].empty())
        throw Error("the Mean/InvStdDev outputs are not supported");
    const std::int64_t axis = normAxis(a.node.attrInt("axis", -1), r.shape.size(), "LayerNormalization axis");
    const float eps = a.node.attrFloat("epsilon", 1e-5f);
    std::int64_t len = 1;
    for (std::size_t d = static_cast<std::size_t>(axis); d < r.shape.size(); ++d) len *= r.shape[d];
    const std::int64_t rows = len ? r.numel() / len : 0;
    auto check = [&](const OnnxValue& p, const char* what) {
        if (p.isInt || (p.numel() != len && p.numel() != 1))
            throw Error(std::string(what) + " " + shapeToString(p.shape) + " does not match the normalized size " +
                        std::to_string(len));
    };
    check(scale, "Scale");
    if (bias) check(*bias, "B");
    for (std::int64_t row = 0; row < rows; ++row) {
        float* p = r.f.data() + row * len;
        double mean = 0, var = 0;
        for (std::int64_t j = 0; j < len; ++j) mean += p[j];
        mean /= static_cast<double>(len);
        for (std::int64_t j = 0; j < len; ++j) var += (p[j] - mean) * (p[j] - mean);
        var /= static_cast<double>(len);
        const double inv = 1.0 / std::sqrt(var + eps);
        for (std::int64_t j = 0; j < len; ++j) {
            const float s = scale.f[scale.numel() == 1 ? 0 : j];
            const float b = bias ? bias->f[bias->numel() == 1 ? 0 : j] : 0.0f;
            p[j] = static_cast<float>((p[j] - mean) * inv) * s + b;
        }
    }
    return one(std::move(r));
}

} // namespace qs::core::onnx_ops
