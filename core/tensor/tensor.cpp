// SPDX-License-Identifier: MIT
#include "tensor/tensor.h"

#include "base/error.h"
#include "tensor/half.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace qs::core {

std::int64_t numel(const Shape& s) {
    std::int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

std::string shapeToString(const Shape& s) {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << ']';
    return os.str();
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
    Tensor t;
    const std::size_t bytes = static_cast<std::size_t>(qs::core::numel(shape)) * dtypeSize(dtype);
    auto buf = std::shared_ptr<std::byte[]>(new std::byte[bytes ? bytes : 1]());
    t.m_dtype = dtype;
    t.m_shape = std::move(shape);
    t.m_data = buf.get();
    t.m_owner = std::shared_ptr<const void>(buf, buf.get());
    t.m_writable = true;
    return t;
}

Tensor Tensor::fromFloats(Shape shape, std::span<const float> values) {
    if (static_cast<std::int64_t>(values.size()) != qs::core::numel(shape))
        throw Error("Tensor::fromFloats: " + std::to_string(values.size()) + " values for shape " +
                    shapeToString(shape));
    Tensor t = zeros(DType::F32, std::move(shape));
    if (!values.empty()) std::memcpy(t.mutableBytes(), values.data(), values.size() * sizeof(float));
    return t;
}

Tensor Tensor::view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner) {
    Tensor t;
    t.m_dtype = dtype;
    t.m_shape = std::move(shape);
    t.m_data = static_cast<const std::byte*>(data);
    t.m_owner = std::move(owner);
    return t;
}

std::byte* Tensor::mutableBytes() {
    if (!m_writable) throw Error("Tensor: write to a read-only view");
    return const_cast<std::byte*>(m_data);
}

std::int64_t Tensor::rows() const { return m_shape.size() <= 1 ? 1 : m_shape[0]; }
std::int64_t Tensor::cols() const {
    if (m_shape.empty()) return 1;
    return m_shape.size() == 1 ? m_shape[0] : numel() / m_shape[0];
}

namespace {
template <class T> void convertPlain(const std::byte* src, float* out, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        T v;
        std::memcpy(&v, src + i * sizeof(T), sizeof(T));
        out[i] = static_cast<float>(v);
    }
}
template <class F> void convert16(const std::byte* src, float* out, std::int64_t n, F f) {
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = f(h);
    }
}
// OCP FP8 decoders for stored F8 tensors (safetensors F8_E4M3 / F8_E5M2).
float decodeE4M3(std::uint8_t b) {
    const int s = b >> 7, e = (b >> 3) & 0xf, m = b & 7;
    if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
    const float v = e == 0 ? std::ldexp(static_cast<float>(m), -9) : std::ldexp(1.0f + m / 8.0f, e - 7);
    return s ? -v : v;
}
float decodeE5M2(std::uint8_t b) { return f16ToF32(static_cast<std::uint16_t>(b) << 8); }
} // namespace

void Tensor::toFloats(float* out) const {
    const std::int64_t n = numel();
    if (n == 0) return; // an empty tensor may have no data pointer at all (memcpy wants one)
    switch (m_dtype) {
    case DType::F32: std::memcpy(out, m_data, static_cast<std::size_t>(n) * 4); break;
    case DType::F16: convert16(m_data, out, n, f16ToF32); break;
    case DType::BF16: convert16(m_data, out, n, bf16ToF32); break;
    case DType::F64: convertPlain<double>(m_data, out, n); break;
    case DType::I8: convertPlain<std::int8_t>(m_data, out, n); break;
    case DType::U8: convertPlain<std::uint8_t>(m_data, out, n); break;
    case DType::I16: convertPlain<std::int16_t>(m_data, out, n); break;
    case DType::U16: convertPlain<std::uint16_t>(m_data, out, n); break;
    case DType::I32: convertPlain<std::int32_t>(m_data, out, n); break;
    case DType::U32: convertPlain<std::uint32_t>(m_data, out, n); break;
    case DType::I64: convertPlain<std::int64_t>(m_data, out, n); break;
    case DType::U64: convertPlain<std::uint64_t>(m_data, out, n); break;
    case DType::Bool: convertPlain<std::uint8_t>(m_data, out, n); break;
    case DType::F8_E4M3:
        for (std::int64_t i = 0; i < n; ++i) out[i] = decodeE4M3(static_cast<std::uint8_t>(m_data[i]));
        break;
    case DType::F8_E5M2:
        for (std::int64_t i = 0; i < n; ++i) out[i] = decodeE5M2(static_cast<std::uint8_t>(m_data[i]));
        break;
    }
}

std::vector<float> Tensor::toFloats() const {
    std::vector<float> v(static_cast<std::size_t>(numel()));
    toFloats(v.data());
    return v;
}

} // namespace qs::core
