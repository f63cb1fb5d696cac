// SPDX-License-Identifier: MIT
#pragma once
#include "base/error.h"

#include <functional>
#include <string>

namespace qs::test {

/// The message of the core::Error that `f` throws; "" when it throws none.
inline std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const core::Error& e) {
        return e.what();
    }
    return "";
}

} // namespace qs::test
