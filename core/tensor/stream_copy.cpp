// SPDX-License-Identifier: MIT
#include "tensor/stream_copy.h"

#include <algorithm>
#include <cstdint>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace qs::core {

void StreamWriter::commit(std::size_t count) {
    std::size_t total = m_held + count, i = 0;
#if defined(__AVX__)
    // Values up to dst's first line boundary with regular stores (a line shared with what lies before).
    const std::size_t intoLine = (reinterpret_cast<std::uintptr_t>(m_dst) / sizeof(float)) % kLine;
    if (intoLine) {
        i = std::min(total, kLine - intoLine);
        std::copy(m_buffer, m_buffer + i, m_dst);
    }
    for (; i + kLine <= total; i += kLine) {
        _mm256_stream_ps(m_dst + i, _mm256_loadu_ps(m_buffer + i));
        _mm256_stream_ps(m_dst + i + 8, _mm256_loadu_ps(m_buffer + i + 8));
    }
#else
    i = total;
    std::copy(m_buffer, m_buffer + i, m_dst);
#endif
    std::copy(m_buffer + i, m_buffer + total, m_buffer); // the next line's first values
    m_dst += i;
    m_held = total - i;
}

void StreamWriter::finish() {
    std::copy(m_buffer, m_buffer + m_held, m_dst);
    m_dst += m_held;
    m_held = 0;
}

void streamFence() {
#if defined(__AVX__)
    _mm_sfence();
#endif
}

} // namespace qs::core
