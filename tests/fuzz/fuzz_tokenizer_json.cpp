// SPDX-License-Identifier: MIT
// Hugging Face tokenizer.json: model, pre-tokenizers, normalizers, added tokens; then an encode and
// decode of a sample text through what was loaded.
#include "fuzz_sample_text.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("tokenizer.json", qs::fuzz::asView(data, size));
        qs::fuzz::exercise(*qs::core::loadHfTokenizerJson(path));
    });
}
