// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/tensor.h"

#include <cstdint>
#include <vector>

namespace qs::core {

/// A value flowing through the ONNX executor: float32 data (activations, weights) or int64 data
/// (shapes, indices), row-major (NCHW for images).
struct OnnxValue {
    Shape shape;
    std::vector<float> f;        ///< data when !isInt
    std::vector<std::int64_t> i; ///< data when isInt
    bool isInt = false;

    /// A float32 value; data.size() must equal numel(shape).
    static OnnxValue floats(Shape shape, std::vector<float> data);
    /// An int64 value.
    static OnnxValue ints(Shape shape, std::vector<std::int64_t> data);
    /// Converts a stored tensor: float types to float32, integer/bool types to int64.
    static OnnxValue fromTensor(const Tensor& t);

    std::int64_t numel() const { return qs::core::numel(shape); }
};

} // namespace qs::core
