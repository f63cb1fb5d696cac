// SPDX-License-Identifier: MIT
// Operators that move data without arithmetic: Reshape, Transpose, Concat, Gather, ...
#include "onnx/onnx_ops.h"

#include "base/error.h"

#include <algorithm>
#include <set>

namespace qs::core::onnx_ops {

namespace {

std::vector<OnnxValue> one(OnnxValue v) {
    std::vector<OnnxValue> r;
    r.push_back(std::move(v));
    return r;
}

// int64 list from an input (Reshape's shape, Unsqueeze's axes, ...).
std::vector<std::int64_t> intList(const OnnxValue& v, const char* what) {
    if (!v.isInt) throw Error(std::string(what) + " must be an int64 tensor");
    return v.i;
}

// Moves blocks of `block` elements of type T from src to dst, with a gather of block indices.
template <class T> void copyBlocks(const std::vector<T>& src, std::vector<T>& dst, std::int64_t dstOff,
                                   std::int64_t srcOff, std::int64_t n) {
    std::copy(src.begin() + srcOff, src.begin() + srcOff + n, dst.begin() + dstOff);
}

OnnxValue withShape(OnnxValue v, Shape s) {
    if (numel(s) != v.numel())
        throw Error("cannot reshape " + shapeToString(v.shape) + " to " + shapeToString(s));
    v.shape = std::move(s);
    return v;
}

} // namespace

std::vector<OnnxValue> identity(const OpArgs& a) {
    if (a.node.outputs.size() > 1 && !a.node.outputs[1].empty())
        throw Error("the mask output of Dropout is not supported");
    return one(a.need(0));
}

std::vector<OnnxValue> constant(const OpArgs& a) {
    const auto& at = a.node.attrs;
    if (auto it = at.find("value"); it != at.end() && it->second.kind == OnnxAttr::Kind::Tensor)
        return one(OnnxValue::fromTensor(it->second.t));
    if (at.count("value_float")) return one(OnnxValue::floats({}, {a.node.attrFloat("value_float", 0)}));
    if (at.count("value_int")) return one(OnnxValue::ints({}, {a.node.attrInt("value_int", 0)}));
    if (auto it = at.find("value_floats"); it != at.end())
        return one(OnnxValue::floats({static_cast<std::int64_t>(it->second.floats.size())}, it->second.floats));
    if (auto it = at.find("value_ints"); it != at.end())
        return one(OnnxValue::ints({static_cast<std::int64_t>(it->second.ints.size())}, it->second.ints));
    throw Error("Constant without a supported value attribute");
}

std::vector<OnnxValue> flatten(const OpArgs& a) {
    const OnnxValue& x = a.need(0);
    const std::int64_t rank = static_cast<std::int64_t>(x.shape.size());
    std::int64_t axis = a.node.attrInt("axis", 1);
    if (axis < -rank || axis > rank) throw Error("Flatten axis " + std::to_string(axis) + " out of range");
    if (axis < 0) axis += rank;
    std::int64_t outer = 1;
    for (std::int64_t d = 0; d < axis; ++d) outer *= x.shape[d];
    return one(withShape(x, {outer, outer ? x.numel() / outer : 0}));
}

std::vector<OnnxValue> reshape(const OpArgs& a) {
    const OnnxValue& x = a.need(0);
    const auto req = intList(a.need(1), "Reshape shape");
    const bool allowZero = a.node.attrInt("allowzero", 0) != 0;
    Shape s(req.size());
    int inferred = -1;
    std::int64_t known = 1;
    for (std::size_t d = 0; d < req.size(); ++d) {
        if (req[d] == -1) {
            if (inferred >= 0) throw Error("Reshape shape " + shapeToString(req) + " has more than one -1");
            inferred = static_cast<int>(d);
            continue;
        }
        if (req[d] < -1) throw Error("Reshape shape " + shapeToString(req) + " has a negative dim");
        if (req[d] == 0 && !allowZero) {
            // 0 copies the input's dim at the same position.
            if (d >= x.shape.size())
                throw Error("Reshape shape " + shapeToString(req) + ": 0 at position " + std::to_string(d) +
                            " but input " + shapeToString(x.shape) + " has no such dim");
            s[d] = x.shape[d];
        } else {
            s[d] = req[d];
        }
        if (__builtin_mul_overflow(known, s[d], &known))
            throw Error("Reshape shape " + shapeToString(req) + " has more elements than a tensor can hold");
    }
    if (inferred >= 0) {
        if (known == 0 || x.numel() % known)
            throw Error("cannot reshape " + shapeToString(x.shape) + " to " + shapeToString(req));
        s[static_cast<std::size_t>(inferred)] = x.numel() / known;
    }
    return one(withShape(x, s));
}

std::vector<OnnxValue> transpose(const OpArgs& a) {
    const OnnxValue& x = a.need(0);
    const std::size_t r = x.shape.size();
    std::vector<std::int64_t> perm(r);
    for (std::size_t d = 0; d < r; ++d) perm[d] = static_cast<std::int64_t>(r - 1 - d);
    perm = a.node.attrInts("perm", perm);
    if (perm.size() != r) throw Error("Transpose perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
    std::vector<bool> seen(r, false);
    for (auto& p : perm) {
        p = normAxis(p, r, "Transpose perm entry");
        if (seen[static_cast<std::size_t>(p)]) throw Error("Transpose perm repeats axis " + std::to_string(p));
        seen[static_cast<std::size_t>(p)] = true;
    }
    Shape os(r);
    std::vector<std::int64_t> inStride(r, 1), srcStride(r);
    for (std::size_t d = r; d-- > 1;) inStride[d - 1] = inStride[d] * x.shape[d];
    for (std::size_t d = 0; d < r; ++d) os[d] = x.shape[perm[d]], srcStride[d] = inStride[perm[d]];
    OnnxValue out;
    out.shape = os;
    out.isInt = x.isInt;
    const std::int64_t n = x.numel();
    auto run = [&](const auto& src, auto& dst) {
        dst.resize(static_cast<std::size_t>(n));
        std::vector<std::int64_t> coord(r, 0);
        std::int64_t off = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            dst[i] = src[off];
            for (std::size_t d = r; d-- > 0;) {
                off += srcStride[d];
                if (++coord[d] < os[d]) break;
                off -= srcStride[d] * os[d];
                coord[d] = 0;
            }
        }
    };
    if (x.isInt) run(x.i, out.i);
    else run(x.f, out.f);
    return one(std::move(out));
}

std::vector<OnnxValue> concat(const OpArgs& a) {
    if (!a.node.has("axis")) throw Error("missing attribute 'axis'");
    const OnnxValue& first = a.need(0);
    const std::size_t r = first.shape.size();
    const std::int64_t axis = normAxis(a.node.attrInt("axis", 0), r, "Concat axis");
    Shape os = first.shape;
    os[axis] = 0;
    for (std::size_t k = 0; k < a.in.size(); ++k) {
        const OnnxValue& v = a.need(k);
        bool ok = v.shape.size() == r && v.isInt == first.isInt;
        for (std::size_t d = 0; ok && d < r; ++d) ok = static_cast<std::int64_t>(d) == axis || v.shape[d] == first.shape[d];
        if (!ok) throw Error("Concat inputs " + shapeToString(first.shape) + " and " + shapeToString(v.shape) + " differ off axis " + std::to_string(axis));
        os[axis] += v.shape[axis];
    }
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t d = 0; d < axis; ++d) outer *= os[d];
    for (std::size_t d = axis + 1; d < r; ++d) inner *= os[d];
    OnnxValue out;
    out.shape = os;
    out.isInt = first.isInt;
    if (out.isInt) out.i.resize(numel(os)); else out.f.resize(numel(os));
    std::int64_t at = 0;
    for (std::size_t k = 0; k < a.in.size(); ++k) {
        const OnnxValue& v = *a.in[k];
        const std::int64_t block = v.shape[axis] * inner;
        for (std::int64_t o = 0; o < outer; ++o) {
            if (out.isInt) copyBlocks(v.i, out.i, o * os[axis] * inner + at, o * block, block);
            else copyBlocks(v.f, out.f, o * os[axis] * inner + at, o * block, block);
        }
        at += block;
    }
    return one(std::move(out));
}

std::vector<OnnxValue> shape(const OpArgs& a) {
    const OnnxValue& x = a.need(0);
    const auto r = static_cast<std::int64_t>(x.shape.size());
    std::int64_t start = a.node.attrInt("start", 0), end = a.node.attrInt("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<std::int64_t>(start, 0, r), end = std::clamp<std::int64_t>(end, start, r);
    std::vector<std::int64_t> dims(x.shape.begin() + start, x.shape.begin() + end);
    return one(OnnxValue::ints({static_cast<std::int64_t>(dims.size())}, dims));
}

std::vector<OnnxValue> gather(const OpArgs& a) {
    const OnnxValue& x = a.need(0);
    const auto idx = intList(a.need(1), "Gather indices");
    const Shape& is = a.need(1).shape;
    const std::int64_t axis = normAxis(a.node.attrInt("axis", 0), x.shape.size(), "Gather axis");
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t d = 0; d < axis; ++d) outer *= x.shape[d];
    for (std::size_t d = axis + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
    const std::int64_t len = x.shape[axis];
    Shape os(x.shape.begin(), x.shape.begin() + axis);
    os.insert(os.end(), is.begin(), is.end());
    os.insert(os.end(), x.shape.begin() + axis + 1, x.shape.end());
    OnnxValue out;
    out.shape = os;
    out.isInt = x.isInt;
    if (out.isInt) out.i.resize(numel(os)); else out.f.resize(numel(os));
    const auto ni = static_cast<std::int64_t>(idx.size());
    for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t k = 0; k < ni; ++k) {
            std::int64_t j = idx[k] < 0 ? idx[k] + len : idx[k];
            if (j < 0 || j >= len) throw Error("Gather index " + std::to_string(idx[k]) + " out of range [0, " + std::to_string(len) + ")");
            if (out.isInt) copyBlocks(x.i, out.i, (o * ni + k) * inner, (o * len + j) * inner, inner);
            else copyBlocks(x.f, out.f, (o * ni + k) * inner, (o * len + j) * inner, inner);
        }
    return one(std::move(out));
}

std::vector<OnnxValue> unsqueeze(const OpArgs& a) {
    const OnnxValue& x = a.need(0);
    const auto axes = a.opt(1) ? intList(*a.opt(1), "Unsqueeze axes") : a.node.attrInts("axes");
    if (axes.empty()) throw Error("Unsqueeze without axes");
    const std::size_t r = x.shape.size() + axes.size();
    std::set<std::int64_t> at;
    for (auto ax : axes)
        if (!at.insert(normAxis(ax, r, "Unsqueeze axis")).second) throw Error("Unsqueeze repeats an axis");
    Shape s;
    std::size_t k = 0;
    for (std::size_t d = 0; d < r; ++d) s.push_back(at.count(static_cast<std::int64_t>(d)) ? 1 : x.shape[k++]);
    return one(withShape(x, s));
}

std::vector<OnnxValue> squeeze(const OpArgs& a) {
    const OnnxValue& x = a.need(0);
    const auto axes = a.opt(1) ? intList(*a.opt(1), "Squeeze axes") : a.node.attrInts("axes");
    std::set<std::int64_t> drop;
    for (auto ax : axes) {
        const std::int64_t d = normAxis(ax, x.shape.size(), "Squeeze axis");
        if (x.shape[d] != 1) throw Error("Squeeze axis " + std::to_string(ax) + " of " + shapeToString(x.shape) + " is not 1");
        drop.insert(d);
    }
    Shape s;
    for (std::size_t d = 0; d < x.shape.size(); ++d) {
        const bool squeezeIt = axes.empty() ? x.shape[d] == 1 : drop.count(static_cast<std::int64_t>(d)) > 0;
        if (!squeezeIt) s.push_back(x.shape[d]);
    }
    return one(withShape(x, s));
}

} // namespace qs::core::onnx_ops
