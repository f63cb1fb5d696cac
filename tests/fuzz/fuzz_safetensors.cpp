// SPDX-License-Identifier: MIT
// .safetensors: the JSON header (dtypes, shapes, offsets) and every tensor view it hands out.
#include "fuzz_touch.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("model.safetensors", qs::fuzz::asView(data, size));
        const auto file = qs::core::SafetensorsFile::open(path);
        for (const auto& e : file.entries()) qs::fuzz::touch(file.tensor(e.name));
    });
}
