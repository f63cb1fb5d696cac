// SPDX-License-Identifier: MIT
#include "io/array_source.h"

#include "io/hdf5_file.h"
#include "io/npy.h"
#include "base/error.h"

#include <cmath>

namespace qs::core {

Tensor readArraySpec(const std::string& spec) {
    if (isHdf5Spec(spec)) {
        const auto [file, dataset] = splitHdf5Spec(spec);
        const Hdf5File h5(file);
        return h5.isInteger(dataset) ? h5.readI64(dataset) : h5.readF32(dataset);
    }
    return readNpy(spec);
}

std::vector<std::int64_t> toLabels(const Tensor& t, const std::string& where) {
    const auto n = static_cast<std::size_t>(t.numel());
    std::vector<std::int64_t> r(n);
    switch (t.dtype()) {
    case DType::I64: for (std::size_t k = 0; k < n; ++k) r[k] = t.data<std::int64_t>()[k]; return r;
    case DType::I32: for (std::size_t k = 0; k < n; ++k) r[k] = t.data<std::int32_t>()[k]; return r;
    case DType::U8: for (std::size_t k = 0; k < n; ++k) r[k] = t.data<std::uint8_t>()[k]; return r;
    case DType::I8: for (std::size_t k = 0; k < n; ++k) r[k] = t.data<std::int8_t>()[k]; return r;
    case DType::I16: for (std::size_t k = 0; k < n; ++k) r[k] = t.data<std::int16_t>()[k]; return r;
    case DType::U16: for (std::size_t k = 0; k < n; ++k) r[k] = t.data<std::uint16_t>()[k]; return r;
    case DType::U32: for (std::size_t k = 0; k < n; ++k) r[k] = t.data<std::uint32_t>()[k]; return r;
    default: break;
    }
    const std::vector<float> f = t.toFloats();
    for (std::size_t k = 0; k < n; ++k) {
        if (f[k] != std::floor(f[k]) || !std::isfinite(f[k]))
            throw Error(where + ": label " + std::to_string(k) + " is " + std::to_string(f[k]) + ", not an integer");
        if (std::fabs(f[k]) >= 9.2e18f) // int64 holds up to ~9.22e18
            throw Error(where + ": label " + std::to_string(k) + " is " + std::to_string(f[k]) + ", out of range");
        r[k] = static_cast<std::int64_t>(f[k]);
    }
    return r;
}

} // namespace qs::core
