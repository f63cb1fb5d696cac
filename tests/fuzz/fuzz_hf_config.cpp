// SPDX-License-Identifier: MIT
// Hugging Face config.json: every model type's keys, defaults and ranges.
#include "fuzz_util.h"
#include "model/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("config.json", qs::fuzz::asView(data, size));
        qs::core::ModelConfig::fromFile(path);
    });
}
