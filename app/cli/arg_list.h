// SPDX-License-Identifier: MIT
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace qs::cli {

/// The command line after the command word. Commands take what they know; whatever is left
/// over at the end is an error ("unknown option"), so typos never pass silently.
class ArgList {
public:
    explicit ArgList(std::vector<std::string> args) : m_args(std::move(args)) {}

    /// Removes `--name` and returns whether it was present.
    bool takeFlag(const std::string& name);
    /// Removes `--name VALUE` (or `--name=VALUE`) and returns VALUE; throws when VALUE is missing.
    std::optional<std::string> takeOption(const std::string& name);
    /// Removes and returns the next argument that does not start with "--"; nullopt if none.
    std::optional<std::string> takePositional();
    /// Throws core::Error naming the first argument nobody took.
    void expectEmpty() const;

private:
    std::vector<std::string> m_args;
};

} // namespace qs::cli
