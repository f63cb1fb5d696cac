// SPDX-License-Identifier: MIT
// NumPy .npy (images, labels, token ids): the header dict, dtypes, shapes and the data size.
#include "fuzz_touch.h"
#include "fuzz_util.h"
#include "io/array_source.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("data.npy", qs::fuzz::asView(data, size));
        const auto t = qs::core::readNpy(path);
        qs::fuzz::touch(t);
        qs::core::toLabels(t, path.string());
    });
}
