// SPDX-License-Identifier: MIT
#pragma once
#include <stdexcept>
#include <string>

namespace qs::core {

/// Every failure the engine reports to a user: the message names the file (when there is one)
/// and the problem, e.g. "model.safetensors: tensor 'w' ends at byte 900 past end of file (800 bytes)".
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown when a job's cancel token fires; not an error the user must see as a failure.
class Cancelled : public std::runtime_error {
public:
    Cancelled() : std::runtime_error("cancelled") {}
};

} // namespace qs::core
