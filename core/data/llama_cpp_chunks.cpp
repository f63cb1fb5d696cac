// SPDX-License-Identifier: MIT
#include "data/llama_cpp_chunks.h"

#include "base/error.h"
#include "data/token_data.h"
#include "io/file_util.h"
#include "tokenizer/tokenizer.h"

#include <algorithm>

namespace qs::core {

LlamaCppChunks llamaCppChunks(std::span<const std::int32_t> stream, std::optional<std::int32_t> bos,
                              const EvalOptions& opts) {
    if (opts.ctx < 4) throw Error("llama.cpp scoring needs --ctx of at least 4, got " + std::to_string(opts.ctx));
    const auto ctx = static_cast<std::size_t>(opts.ctx);
    if (stream.size() < 2 * ctx)
        throw Error("llama.cpp scoring needs at least " + std::to_string(2 * ctx) + " tokens for a context of " +
                    std::to_string(ctx) + " (as llama-perplexity), the data holds " + std::to_string(stream.size()));
    std::size_t chunks = stream.size() / ctx;
    if (opts.maxWindows > 0) chunks = std::min(chunks, static_cast<std::size_t>(opts.maxWindows));
    LlamaCppChunks out;
    out.tokens.assign(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(chunks * ctx));
    if (bos)
        for (std::size_t c = 0; c < chunks; ++c) out.tokens[c * ctx] = *bos;
    out.opts = opts;
    out.opts.maxWindows = static_cast<long long>(chunks);
    out.opts.scoreFrom = opts.ctx / 2 + 1; // logits from ctx/2 on score the tokens after them
    return out;
}

std::vector<std::int32_t> readLlamaCppTokens(const std::filesystem::path& file, const std::filesystem::path& model,
                                             std::string& source, std::optional<std::int32_t>& bos) {
    bos.reset();
    if (file.extension() == ".npy") return readTokenData(file, model, source);
    std::string text = readWholeFile(file);
    if (!text.empty() && text.back() == '\n') text.pop_back(); // llama.cpp's -f drops one trailing newline
    const auto tokenizer = loadTokenizer(model);
    std::vector<std::int32_t> ids;
    if (tokenizer->addsBos()) {
        bos = tokenizer->bosId();
        ids.push_back(*bos);
    }
    const auto body = tokenizer->encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    source = "text, " + tokenizer->description() + (bos ? ", BOS first" : "");
    return ids;
}

} // namespace qs::core
