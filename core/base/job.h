// SPDX-License-Identifier: MIT
#pragma once
#include <atomic>
#include <functional>
#include <string>

#include "base/error.h"

namespace qs::core {

/// Shared between a job and whoever started it: set from any thread to ask the job to stop.
class CancelToken {
public:
    void cancel() { m_cancelled.store(true, std::memory_order_relaxed); }
    bool isCancelled() const { return m_cancelled.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> m_cancelled{false};
};

/// Progress report: `done` of `total` steps, a short human message ("RTN model.layers.3.mlp.up_proj").
using ProgressFn = std::function<void(long long done, long long total, const std::string& message)>;

/// What every long operation takes: a progress sink and a cancel token (both optional).
struct JobContext {
    ProgressFn progress;
    const CancelToken* cancel = nullptr;

    /// Reports progress and throws Cancelled when cancellation was requested.
    void step(long long done, long long total, const std::string& message) const {
        if (cancel && cancel->isCancelled()) throw Cancelled();
        if (progress) progress(done, total, message);
    }
    /// Throws Cancelled when cancellation was requested (for inner loops).
    void checkCancel() const {
        if (cancel && cancel->isCancelled()) throw Cancelled();
    }
};

} // namespace qs::core
