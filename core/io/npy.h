// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/tensor.h"

#include <filesystem>

namespace qs::core {

/// Reads a NumPy .npy file (format 1.0/2.0/3.0, little-endian, C order; f2/f4/f8/i1..i8/u1..u8/b1)
/// into an owning tensor. Throws Error naming the file for Fortran order, big-endian data,
/// unsupported dtypes, or a data size that does not match the header.
Tensor readNpy(const std::filesystem::path& path);

/// Writes a tensor as .npy format 1.0 (atomic: temp file + rename).
void writeNpy(const std::filesystem::path& path, const Tensor& tensor);

} // namespace qs::core
