// SPDX-License-Identifier: MIT
// HDF5 data sets (FILE.h5:DATASET images and labels, calibration caches): listing, shapes, element
// classes and reading every dataset in each of the element types the engine asks for.
#include "fuzz_touch.h"
#include "fuzz_util.h"
#include "io/hdf5_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qs::core;
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("data.h5", qs::fuzz::asView(data, size));
        const Hdf5File h5(path);
        h5.attribute("/", "quantscope");
        for (const auto& name : h5.listDatasets()) {
            qs::fuzz::runOne([&] {
                h5.shape(name);
                h5.attribute(name, "quantscope");
                qs::fuzz::touch(h5.isInteger(name) ? h5.readI64(name) : h5.readF32(name));
                h5.readF64(name);
            });
        }
    });
}
