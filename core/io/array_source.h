// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// Reads an array named by a data spec: "X.npy" (any dtype .npy reads) or "FILE.h5:DATASET"
/// (integer datasets as int64, float ones as float32). Throws Error naming the file and dataset.
Tensor readArraySpec(const std::string& spec);

/// Integer labels from a tensor: integer dtypes as they are, floats only when integral.
/// Throws Error naming `where` for a fractional value.
std::vector<std::int64_t> toLabels(const Tensor& t, const std::string& where);

} // namespace qs::core
