// SPDX-License-Identifier: MIT
#include "onnx/onnx_value.h"

#include "base/error.h"

namespace qs::core {

OnnxValue OnnxValue::floats(Shape shape, std::vector<float> data) {
    if (static_cast<std::int64_t>(data.size()) != qs::core::numel(shape))
        throw Error("float value of shape " + shapeToString(shape) + " given " + std::to_string(data.size()) +
                    " values");
    OnnxValue v;
    v.shape = std::move(shape);
    v.f = std::move(data);
    return v;
}

OnnxValue OnnxValue::ints(Shape shape, std::vector<std::int64_t> data) {
    if (static_cast<std::int64_t>(data.size()) != qs::core::numel(shape))
        throw Error("int64 value of shape " + shapeToString(shape) + " given " + std::to_string(data.size()) +
                    " values");
    OnnxValue v;
    v.shape = std::move(shape);
    v.i = std::move(data);
    v.isInt = true;
    return v;
}

OnnxValue OnnxValue::fromTensor(const Tensor& t) {
    OnnxValue v;
    v.shape = t.shape();
    const auto n = static_cast<std::size_t>(t.numel());
    switch (t.dtype()) {
    case DType::I8: case DType::U8: case DType::I16: case DType::U16: case DType::I32: case DType::U32:
    case DType::I64: case DType::U64: case DType::Bool: {
        v.isInt = true;
        v.i.resize(n);
        const std::byte* p = t.bytes();
        for (std::size_t k = 0; k < n; ++k) {
            switch (t.dtype()) {
            case DType::I8: v.i[k] = reinterpret_cast<const std::int8_t*>(p)[k]; break;
            case DType::U8: case DType::Bool: v.i[k] = reinterpret_cast<const std::uint8_t*>(p)[k]; break;
            case DType::I16: v.i[k] = reinterpret_cast<const std::int16_t*>(p)[k]; break;
            case DType::U16: v.i[k] = reinterpret_cast<const std::uint16_t*>(p)[k]; break;
            case DType::I32: v.i[k] = reinterpret_cast<const std::int32_t*>(p)[k]; break;
            case DType::U32: v.i[k] = reinterpret_cast<const std::uint32_t*>(p)[k]; break;
            case DType::I64: v.i[k] = reinterpret_cast<const std::int64_t*>(p)[k]; break;
            default: v.i[k] = static_cast<std::int64_t>(reinterpret_cast<const std::uint64_t*>(p)[k]); break;
            }
        }
        return v;
    }
    default:
        v.f = t.toFloats();
        return v;
    }
}

} // namespace qs::core
