// SPDX-License-Identifier: MIT
#include "quant/held_weights.h"

#include "base/error.h"
#include "formats/format_traits.h"

namespace qs::core {

std::optional<CompactMatrix> compactWeight(std::span<const float> values, std::int64_t rows,
                                           std::int64_t cols, bool runsAlongColumns) {
    static const std::vector<std::vector<float>> codeBooks = smallCodeBooks(CompactMatrixView::kCodeBookSize);
    static const std::vector<MiniFloatLayout> miniFloats = byteMiniFloatLayouts();
    return CompactMatrix::exactly(values, rows, cols, runsAlongColumns, codeBooks, miniFloats);
}

void HeldWeights::add(const WeightInfo& w, std::span<const float> values) {
    const std::int64_t count = numel(w.shape);
    if (static_cast<std::int64_t>(values.size()) != count)
        throw Error("weight '" + w.name + "' has " + std::to_string(values.size()) + " values, its shape " +
                    shapeToString(w.shape) + " needs " + std::to_string(count));
    m_held.erase(w.name);
    // Matrices as they are stored, runs along `in`: down the columns of a weight stored [in, out].
    if (w.shape.size() >= 2 && count > 0) {
        const std::int64_t rows = w.transposed ? w.shape[0] : w.matrixRows();
        if (auto compact = compactWeight(values, rows, count / rows, w.transposed)) {
            m_held.emplace(w.name, std::move(*compact));
            return;
        }
    }
    m_held.emplace(w.name, std::vector<float>(values.begin(), values.end()));
}

void HeldWeights::add(const Model& model, const std::string& name, std::span<const float> values) {
    const WeightInfo* w = model.find(name);
    if (!w) throw Error(model.path().string() + ": no weight '" + name + "'");
    add(*w, values);
}

std::vector<float> HeldWeights::values(const std::string& name) const {
    const auto it = m_held.find(name);
    if (it == m_held.end()) throw Error("no weight '" + name + "' is held");
    if (const auto* compact = std::get_if<CompactMatrix>(&it->second)) return compact->toFloats();
    return std::get<std::vector<float>>(it->second);
}

std::size_t HeldWeights::size(const std::string& name) const {
    const auto it = m_held.find(name);
    if (it == m_held.end()) return 0;
    if (const auto* compact = std::get_if<CompactMatrix>(&it->second))
        return static_cast<std::size_t>(compact->view().rows * compact->view().cols);
    return std::get<std::vector<float>>(it->second).size();
}

std::vector<std::string> HeldWeights::names() const {
    std::vector<std::string> out;
    for (const auto& [name, held] : m_held) out.push_back(name);
    return out;
}

std::size_t HeldWeights::bytes() const {
    std::size_t total = 0;
    for (const auto& [name, held] : m_held)
        total += std::holds_alternative<CompactMatrix>(held) ? std::get<CompactMatrix>(held).bytes()
                                                            : std::get<std::vector<float>>(held).size() * sizeof(float);
    return total;
}

} // namespace qs::core
