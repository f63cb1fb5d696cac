// SPDX-License-Identifier: MIT
// llama-perplexity's saved log-probabilities (its --kl-divergence-base FILE), read and written so a
// user's llama.cpp KLD runs and ours compare directly.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace qs::core {

class AtomicFileWriter;

/// The layout (tools/perplexity/perplexity.cpp): "_logits_", n_ctx (u32), n_vocab (i32), n_chunk
/// (i32), n_chunk * n_ctx token ids (i32); then, chunk by chunk, one row per scored position (the
/// logits at n_ctx/2 .. n_ctx-2, n_ctx - 1 - n_ctx/2 rows) of rowStride() uint16: two floats (scale,
/// min_log_prob) and one code per vocabulary entry, log p_i = scale * code_i + min_log_prob; codes
/// cover the 16 nats below the top logit, everything below reads as the bottom of that range.
/// Little-endian, as llama.cpp writes it on every machine it runs on.
struct LlamaLogitsFile {
    int ctx = 0;
    int vocab = 0;
    int chunks = 0;
    std::vector<std::int32_t> tokens; ///< chunks * ctx, as tokenized (BOS not substituted)
    std::vector<std::uint16_t> rows;  ///< chunks * rowsPerChunk() * rowStride()

    int rowsPerChunk() const { return ctx - 1 - ctx / 2; }
    int rowStride() const { return 2 * ((vocab + 1) / 2) + 4; }
    /// Row `r` of chunk `c` (the logits at position ctx/2 + r).
    const std::uint16_t* row(int c, int r) const {
        return rows.data() + (static_cast<std::size_t>(c) * rowsPerChunk() + r) * static_cast<std::size_t>(rowStride());
    }
};

/// Reads and checks a whole file. Throws Error naming it for a wrong magic, sizes out of range, or a
/// length that does not match its header.
LlamaLogitsFile readLlamaLogitsFile(const std::filesystem::path& path);

/// Decoded log-probability of entry `i` of a row.
float llamaRowLogProb(const std::uint16_t* row, int i);

/// Encodes one row of logits [vocab] as llama-perplexity does (into rowStride() uint16s) and returns
/// the NLL of `target` from the unencoded logits.
double encodeLlamaRow(const float* logits, int vocab, std::int32_t target, std::uint16_t* row);

/// Writes such a file chunk by chunk (atomically: nothing at `path` until finish()).
class LlamaLogitsWriter {
public:
    /// Writes the header and the tokens (chunks * ctx of them).
    LlamaLogitsWriter(const std::filesystem::path& path, int ctx, int vocab, std::span<const std::int32_t> tokens);
    ~LlamaLogitsWriter();
    /// Appends the next chunk's rows (rowsPerChunk() * rowStride() uint16s).
    void addChunk(std::span<const std::uint16_t> rows);
    /// Commits the file; throws Error unless every chunk was added.
    void finish();

private:
    std::unique_ptr<AtomicFileWriter> m_out;
    std::size_t m_chunkValues;
    int m_chunksLeft;
};

} // namespace qs::core
