// SPDX-License-Identifier: MIT
// StreamWriter against a plain copy: every value where it belongs, nothing written outside the output,
// at every alignment of the output and for pieces that end inside a line, on one, or span several.
#include "tensor/stream_copy.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

using namespace qs::core;

TEST(StreamWriter, WritesThePiecesInOrderAndNothingAround) {
    constexpr float kUntouched = -1.0f;
    for (std::size_t offset = 0; offset < 16; ++offset)
        for (std::size_t piece : {1, 7, 16, 33, 256})
            for (std::size_t n : {0, 5, 16, 31, 1000}) {
                std::vector<float> values(n);
                std::iota(values.begin(), values.end(), 1.0f);
                std::vector<float> memory(n + 64, kUntouched);
                float* dst = memory.data() + 16 + offset; // memory.data() is 16-byte aligned at least
                {
                    StreamWriter w(dst);
                    for (std::size_t c = 0; c < n; c += piece) {
                        const std::size_t count = std::min(piece, n - c);
                        std::copy(values.begin() + static_cast<std::ptrdiff_t>(c),
                                  values.begin() + static_cast<std::ptrdiff_t>(c + count), w.piece());
                        w.commit(count);
                    }
                } // the destructor writes what is held
                streamFence();
                for (std::size_t i = 0; i < memory.size(); ++i) {
                    const auto at = static_cast<std::ptrdiff_t>(i) - static_cast<std::ptrdiff_t>(16 + offset);
                    const float want = at >= 0 && at < static_cast<std::ptrdiff_t>(n) ? values[static_cast<std::size_t>(at)] : kUntouched;
                    ASSERT_EQ(memory[i], want) << "offset " << offset << " piece " << piece << " n " << n << " at " << at;
                }
            }
}
