// SPDX-License-Identifier: MIT
#pragma once
// Writing around the caches, for outputs too large to be read back from them.
#include <cstddef>

namespace qs::core {

/// Outputs of at least this many bytes are worth streaming (StreamWriter): a regular store first
/// reads each line it writes (a third stream of memory traffic beside the read and the write), and an
/// output this large leaves the cache before anyone reads it there.
inline constexpr std::size_t kStreamBytes = std::size_t{16} << 20;

/// Writes one contiguous output, given in consecutive pieces, with non-temporal stores where the
/// processor has them (AVX): whole 64-byte lines go to memory without being read first or displacing
/// the cache. A piece is written into piece() (in L1), then commit() sends on the whole lines it
/// completes and keeps the rest for the next piece; the partial lines at the two ends get regular
/// stores, so a line shared with a neighbouring output is never half streamed. The values are the same
/// as a plain copy's; other threads see them after the writer's streamFence() and a barrier.
class StreamWriter {
public:
    static constexpr std::size_t kPieceCapacity = 256; ///< the most values one piece may hold

    explicit StreamWriter(float* dst) : m_dst(dst) {}
    StreamWriter(const StreamWriter&) = delete;
    StreamWriter& operator=(const StreamWriter&) = delete;
    ~StreamWriter() { finish(); }

    /// Room for the next piece's values (up to kPieceCapacity).
    float* piece() { return m_buffer + m_held; }
    /// The `count` values just written at piece() follow the ones before them.
    void commit(std::size_t count);
    /// Writes the values still held (the output's last partial line).
    void finish();

private:
    static constexpr std::size_t kLine = 64 / sizeof(float);
    alignas(64) float m_buffer[kPieceCapacity + kLine];
    float* m_dst;           ///< where m_buffer[0] goes
    std::size_t m_held = 0; ///< values in m_buffer not yet written
};

/// Orders this thread's streamed stores before its later ones (then a barrier publishes them).
void streamFence();

} // namespace qs::core
