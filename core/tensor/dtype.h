// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qs::core {

/// Element types of stored tensors. Ids are persisted (HDF5, SQLite): append only, never renumber.
enum class DType : std::uint8_t {
    F32 = 0,
    F16 = 1,
    BF16 = 2,
    F64 = 3,
    I8 = 4,
    U8 = 5,
    I16 = 6,
    U16 = 7,
    I32 = 8,
    U32 = 9,
    I64 = 10,
    U64 = 11,
    Bool = 12,
    F8_E4M3 = 13,
    F8_E5M2 = 14,
};

/// Bytes per element.
std::size_t dtypeSize(DType t);
/// Safetensors spelling ("F32", "BF16", ...).
std::string_view dtypeName(DType t);
/// Parses the safetensors spelling; nullopt when unknown.
std::optional<DType> parseDType(std::string_view name);
/// True for the types this engine can convert to float32.
bool isFloatConvertible(DType t);

} // namespace qs::core
