// SPDX-License-Identifier: MIT
// SentencePiece tokenizer.model (protobuf read by hand): pieces, trainer and normalizer specs; then an
// encode and decode of a sample text (BPE merges or Unigram Viterbi, byte fallback).
#include "fuzz_sample_text.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("tokenizer.model", qs::fuzz::asView(data, size));
        qs::fuzz::exercise(*qs::core::loadSentencePieceModel(path));
    });
}
