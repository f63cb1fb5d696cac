// SPDX-License-Identifier: MIT
// GGUF: the header (metadata, tensor infos, offsets), every tensor's dequantization, the llama model
// view (config from metadata, renamed and un-permuted weights) and the tokenizer in its metadata.
// Each layer runs on its own so a file the model view rejects still reaches the tokenizer.
#include "fuzz_sample_text.h"
#include "fuzz_util.h"
#include "io/gguf.h"
#include "model/gguf_model.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qs::core;
    const auto path = qs::fuzz::writeScratch("model.gguf", qs::fuzz::asView(data, size));
    qs::fuzz::runOne([&] {
        const auto file = GgufFile::open(path);
        for (const auto& t : file.tensors()) {
            file.rawData(t.name);
            const GgufTypeTraits* traits = ggufTypeTraits(static_cast<std::uint32_t>(t.type));
            if (traits && traits->dequantize) file.dequantize(t.name);
        }
    });
    qs::fuzz::runOne([&] {
        const auto model = GgufModel::open(path);
        for (const auto& w : model->weights()) model->weightAsOutIn(w);
    });
    qs::fuzz::runOne([&] { qs::fuzz::exercise(*loadGgufTokenizer(path)); });
    return 0;
}
