// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

#include <atomic>
#include <chrono>
#include <thread>

namespace qs::test {

/// Never finishes on its own: lets a test cancel while the job is certainly inside quantization.
/// Register it as method "blocking"; `entered` turns true when a quantize() call began.
class BlockingQuantizer final : public core::Quantizer {
public:
    static inline std::atomic<bool> entered{false};
    std::string_view name() const override { return "blocking"; }
    std::string_view summary() const override { return "test-only: waits until cancelled"; }
    const core::ParamSchema& params() const override {
        static const core::ParamSchema none;
        return none;
    }
    bool needsCalibration() const override { return false; }
    void quantize(const core::WeightMatrix&, const core::QuantSpec&, const nlohmann::json&, float*,
                  const core::JobContext& job) const override {
        entered = true;
        for (;;) {
            job.checkCancel();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
};

} // namespace qs::test
