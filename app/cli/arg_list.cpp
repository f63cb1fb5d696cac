// SPDX-License-Identifier: MIT
#include "arg_list.h"

#include "base/error.h"

#include <algorithm>

namespace qs::cli {

bool ArgList::takeFlag(const std::string& name) {
    auto it = std::find(m_args.begin(), m_args.end(), "--" + name);
    if (it == m_args.end()) return false;
    m_args.erase(it);
    return true;
}

std::optional<std::string> ArgList::takeOption(const std::string& name) {
    const std::string flag = "--" + name;
    for (auto it = m_args.begin(); it != m_args.end(); ++it) {
        if (*it == flag) {
            if (it + 1 == m_args.end()) throw core::Error(flag + ": missing value");
            std::string value = *(it + 1);
            m_args.erase(it, it + 2);
            return value;
        }
        if (it->rfind(flag + "=", 0) == 0) {
            std::string value = it->substr(flag.size() + 1);
            m_args.erase(it);
            return value;
        }
    }
    return std::nullopt;
}

std::optional<std::string> ArgList::takePositional() {
    for (auto it = m_args.begin(); it != m_args.end(); ++it)
        if (it->rfind("--", 0) != 0) {
            std::string value = *it;
            m_args.erase(it);
            return value;
        }
    return std::nullopt;
}

void ArgList::expectEmpty() const {
    if (!m_args.empty())
        throw core::Error("unknown " + std::string(m_args.front().rfind("--", 0) == 0 ? "option" : "argument") +
                          " '" + m_args.front() + "' (see quantscope-cli --help)");
}

} // namespace qs::cli
