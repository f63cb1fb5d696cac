// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/dtype.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

using Shape = std::vector<std::int64_t>;

/// Number of elements of a shape (1 for a scalar shape {}).
std::int64_t numel(const Shape& s);
/// "[192, 512]".
std::string shapeToString(const Shape& s);

/// A typed n-d array over bytes it owns or views (e.g. inside a memory-mapped file).
/// The owner keeps the memory alive; copying a Tensor shares it.
class Tensor {
public:
    Tensor() = default;
    /// Zero-filled tensor owning its memory.
    static Tensor zeros(DType dtype, Shape shape);
    /// Float32 tensor owning a copy of `values` (size must equal numel(shape)).
    static Tensor fromFloats(Shape shape, std::span<const float> values);
    /// View over `data` kept alive by `owner`.
    static Tensor view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner);

    DType dtype() const { return m_dtype; }
    const Shape& shape() const { return m_shape; }
    std::int64_t numel() const { return qs::core::numel(m_shape); }
    std::size_t byteSize() const { return static_cast<std::size_t>(numel()) * dtypeSize(m_dtype); }
    const std::byte* bytes() const { return m_data; }
    /// Writable bytes; only for tensors created with zeros()/fromFloats().
    std::byte* mutableBytes();

    /// Typed pointer; the caller knows the dtype.
    template <class T> const T* data() const { return reinterpret_cast<const T*>(m_data); }
    template <class T> T* mutableData() { return reinterpret_cast<T*>(mutableBytes()); }

    /// Converts every element to float32 (exact for f16/bf16/f8; rounded for f64/ints beyond 2^24).
    std::vector<float> toFloats() const;
    /// Same into a caller buffer of numel() floats.
    void toFloats(float* out) const;

    /// Rows x columns when the tensor is seen as a matrix: dim 0 by the product of the rest
    /// (a Conv weight [out, in, kh, kw] is out x in*kh*kw). A 1-D tensor is 1 x n.
    std::int64_t rows() const;
    std::int64_t cols() const;

private:
    DType m_dtype = DType::F32;
    Shape m_shape;
    std::shared_ptr<const void> m_owner;
    const std::byte* m_data = nullptr;
    bool m_writable = false;
};

} // namespace qs::core
