// SPDX-License-Identifier: MIT
#include "io/llama_logits_file.h"

#include "base/error.h"
#include "io/file_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

namespace qs::core {
namespace {

constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
constexpr std::size_t kHeaderBytes = 8 + 3 * 4;

template <class T>
T readScalar(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Round to nearest, ties to even: llama.cpp's nearest_int (the 1.5 * 2^23 trick).
int nearestInt(float v) { return static_cast<int>(std::nearbyint(v)); }

} // namespace

LlamaLogitsFile readLlamaLogitsFile(const std::filesystem::path& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw Error(path.string() + ": cannot read: " + ec.message());
    const auto fail = [&](const std::string& problem) { throw Error(path.string() + ": " + problem); };
    if (size < kHeaderBytes) fail("too short for a llama.cpp log-probability file (" + std::to_string(size) + " bytes)");
    std::ifstream in(path, std::ios::binary);
    char header[kHeaderBytes];
    if (!in.read(header, kHeaderBytes)) fail("cannot read the header");
    if (std::memcmp(header, kMagic, 8) != 0)
        fail("not a llama.cpp log-probability file (no _logits_ magic; llama-perplexity writes one with "
             "--kl-divergence-base FILE and no --kl-divergence)");
    LlamaLogitsFile f;
    const auto ctx = readScalar<std::uint32_t>(header + 8);
    f.vocab = readScalar<std::int32_t>(header + 12);
    f.chunks = readScalar<std::int32_t>(header + 16);
    if (ctx < 4 || ctx > (1u << 20)) fail("context " + std::to_string(ctx) + " is out of range");
    if (f.vocab < 1 || f.vocab > (1 << 24)) fail("vocabulary size " + std::to_string(f.vocab) + " is out of range");
    if (f.chunks < 1) fail("chunk count " + std::to_string(f.chunks) + " is out of range");
    f.ctx = static_cast<int>(ctx);
    // Every factor is bounded, and the chunk count is checked against the file size before the
    // product that could overflow.
    const std::uint64_t chunkRowBytes = static_cast<std::uint64_t>(f.rowsPerChunk()) * f.rowStride() * 2;
    const std::uint64_t chunkBytes = static_cast<std::uint64_t>(ctx) * 4 + chunkRowBytes;
    const auto sizeError = [&] {
        fail("holds " + std::to_string(size) + " bytes, not what its header (context " + std::to_string(ctx) +
             ", vocabulary " + std::to_string(f.vocab) + ", " + std::to_string(f.chunks) + " chunks) says");
    };
    if (static_cast<std::uint64_t>(f.chunks) > (size - kHeaderBytes) / chunkBytes) sizeError();
    const std::uint64_t tokenBytes = static_cast<std::uint64_t>(f.chunks) * ctx * 4;
    const std::uint64_t rowBytes = static_cast<std::uint64_t>(f.chunks) * chunkRowBytes;
    if (size != kHeaderBytes + tokenBytes + rowBytes) sizeError();
    f.tokens.resize(static_cast<std::size_t>(tokenBytes / 4));
    f.rows.resize(static_cast<std::size_t>(rowBytes / 2));
    if (!in.read(reinterpret_cast<char*>(f.tokens.data()), static_cast<std::streamsize>(tokenBytes)) ||
        !in.read(reinterpret_cast<char*>(f.rows.data()), static_cast<std::streamsize>(rowBytes)))
        fail("cannot read its contents");
    for (std::size_t i = 0; i < f.tokens.size(); ++i)
        if (f.tokens[i] < 0 || f.tokens[i] >= f.vocab)
            fail("token " + std::to_string(f.tokens[i]) + " at index " + std::to_string(i) +
                 " is outside its vocabulary of " + std::to_string(f.vocab));
    return f;
}

float llamaRowLogProb(const std::uint16_t* row, int i) {
    const float scale = readScalar<float>(reinterpret_cast<const char*>(row));
    const float minLogProb = readScalar<float>(reinterpret_cast<const char*>(row) + 4);
    return scale * static_cast<float>(row[4 + i]) + minLogProb;
}

double encodeLlamaRow(const float* logits, int vocab, std::int32_t target, std::uint16_t* row) {
    float maxLogit = logits[0], minLogit = logits[0];
    for (int i = 1; i < vocab; ++i) {
        maxLogit = std::max(maxLogit, logits[i]);
        minLogit = std::min(minLogit, logits[i]);
    }
    minLogit = std::max(minLogit, maxLogit - 16);
    double sumExp = 0;
    for (int i = 0; i < vocab; ++i) sumExp += std::exp(logits[i] - maxLogit);
    const auto logSumExp = static_cast<float>(std::log(sumExp));
    const float minLogProb = minLogit - maxLogit - logSumExp;
    const float scale = (maxLogit - minLogit) / 65535.f;
    std::memcpy(row, &scale, 4);
    std::memcpy(row + 2, &minLogProb, 4);
    std::uint16_t* codes = row + 4;
    std::fill(codes, codes + (2 * ((vocab + 1) / 2)), std::uint16_t{0});
    if (scale != 0) {
        const float inv = 1 / scale;
        for (int i = 0; i < vocab; ++i)
            codes[i] = logits[i] > minLogit ? static_cast<std::uint16_t>(nearestInt(inv * (logits[i] - minLogit))) : 0;
    }
    return static_cast<double>(maxLogit) + logSumExp - logits[target];
}

LlamaLogitsWriter::LlamaLogitsWriter(const std::filesystem::path& path, int ctx, int vocab,
                                     std::span<const std::int32_t> tokens)
    : m_out(std::make_unique<AtomicFileWriter>(path)) {
    if (ctx < 4 || vocab < 1 || tokens.empty() || tokens.size() % static_cast<std::size_t>(ctx) != 0)
        throw Error(path.string() + ": cannot write a log-probability file for context " + std::to_string(ctx) +
                    " and " + std::to_string(tokens.size()) + " tokens");
    const LlamaLogitsFile shape{ctx, vocab, 0, {}, {}};
    m_chunkValues = static_cast<std::size_t>(shape.rowsPerChunk()) * static_cast<std::size_t>(shape.rowStride());
    m_chunksLeft = static_cast<int>(tokens.size() / static_cast<std::size_t>(ctx));
    const auto n = static_cast<std::uint32_t>(ctx);
    m_out->write(kMagic, 8);
    m_out->write(&n, 4);
    m_out->write(&vocab, 4);
    m_out->write(&m_chunksLeft, 4);
    m_out->write(tokens.data(), tokens.size_bytes());
}

LlamaLogitsWriter::~LlamaLogitsWriter() = default;

void LlamaLogitsWriter::addChunk(std::span<const std::uint16_t> rows) {
    if (rows.size() != m_chunkValues || m_chunksLeft <= 0)
        throw Error(m_out->path().string() + ": a chunk of the wrong size, or one too many");
    m_out->write(rows.data(), rows.size_bytes());
    --m_chunksLeft;
}

void LlamaLogitsWriter::finish() {
    if (m_chunksLeft != 0)
        throw Error(m_out->path().string() + ": " + std::to_string(m_chunksLeft) + " chunks were never written");
    m_out->commit();
}

} // namespace qs::core
