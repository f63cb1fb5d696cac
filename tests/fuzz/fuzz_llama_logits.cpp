// SPDX-License-Identifier: MIT
// llama-perplexity's log-probability file (eval --kl-divergence-base): header sizes against the file
// length, token ids against the vocabulary, every row decoded.
#include "fuzz_util.h"
#include "io/llama_logits_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("base.kld", qs::fuzz::asView(data, size));
        const qs::core::LlamaLogitsFile f = qs::core::readLlamaLogitsFile(path);
        double sum = 0;
        for (int c = 0; c < f.chunks; ++c)
            for (int r = 0; r < f.rowsPerChunk(); ++r)
                for (int i = 0; i < f.vocab; ++i) sum += qs::core::llamaRowLogProb(f.row(c, r), i);
        volatile double sink = sum; // every decoded value is used
        (void)sink;
    });
}
