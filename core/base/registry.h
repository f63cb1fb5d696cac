// SPDX-License-Identifier: MIT
#pragma once
#include "base/error.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// An open set of named entries (quantizers, analyses, cost models), filled explicitly by
/// registerBuiltins() — no static-initialisation tricks. T must have `std::string_view name() const`.
template <class T> class Registry {
public:
    /// Adds an entry; a duplicate name is a programming error and throws.
    void add(std::unique_ptr<T> entry) {
        if (find(entry->name())) throw Error("registry: duplicate entry '" + std::string(entry->name()) + "'");
        m_entries.push_back(std::move(entry));
    }
    /// Entry by name, nullptr when absent.
    const T* find(std::string_view name) const {
        for (const auto& e : m_entries)
            if (e->name() == name) return e.get();
        return nullptr;
    }
    /// Entry by name; throws Error listing the known names when absent.
    const T& get(std::string_view name, std::string_view what) const {
        if (const T* e = find(name)) return *e;
        std::string known;
        for (const auto& e : m_entries) known += (known.empty() ? "" : ", ") + std::string(e->name());
        throw Error("unknown " + std::string(what) + " '" + std::string(name) + "' (known: " + known + ")");
    }
    /// All entries in registration order.
    std::vector<const T*> all() const {
        std::vector<const T*> v;
        for (const auto& e : m_entries) v.push_back(e.get());
        return v;
    }

private:
    std::vector<std::unique_ptr<T>> m_entries;
};

} // namespace qs::core
