// SPDX-License-Identifier: MIT
// Reads every byte and value of a tensor a reader returned, so a view that points outside its file
// or a size that lies shows up under AddressSanitizer instead of passing unseen.
#pragma once
#include "tensor/tensor.h"

#include <cstddef>
#include <vector>

namespace qs::fuzz {

inline unsigned touch(const core::Tensor& t) {
    unsigned sum = 0;
    const std::byte* p = t.bytes();
    for (std::size_t k = 0; k < t.byteSize(); ++k) sum += static_cast<unsigned>(p[k]);
    const std::vector<float> values = t.toFloats();
    for (float v : values) sum += v > 0.0f;
    return sum;
}

} // namespace qs::fuzz
