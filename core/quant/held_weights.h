// SPDX-License-Identifier: MIT
#pragma once
// A whole model's quantized weights held for a writer without a float32 copy of each.
#include "model/model.h"
#include "tensor/compact_matrix.h"

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace qs::core {

/// A weight matrix (row-major [rows, cols], runs along rows, or down columns when `runsAlongColumns`)
/// in its compact form, with every form the forward pass offers: CompactMatrix::exactly with the format
/// table's small code books and byte mini-float layouts. nullopt where none holds every value exactly.
std::optional<CompactMatrix> compactWeight(std::span<const float> values, std::int64_t rows,
                                           std::int64_t cols, bool runsAlongColumns);

/// Weights by name in their stored layout, each held in the fewest bytes that give back every value
/// exactly (compactWeight: codes times run scales, or BF16), else as float32. What `quantize --out`
/// and `export` keep of a model's quantized weights until the writer reads them, one at a time: a
/// 4-bit model's take about an eighth of their float32 bytes. A zero of either sign comes back as +0 from a compact form (no product can tell).
class HeldWeights {
public:
    /// Holds `values` (stored layout, numel(w.shape) of them) as w.name, replacing any held before.
    /// Throws Error when the count does not match the shape.
    void add(const WeightInfo& w, std::span<const float> values);
    /// add() of `model`'s weight `name` (a quantizeModel WeightObserver's call); Error naming the model
    /// when it has none.
    void add(const Model& model, const std::string& name, std::span<const float> values);
    /// Every value of a weight added under `name`, float32 in the stored layout; Error when none was.
    std::vector<float> values(const std::string& name) const;
    bool contains(const std::string& name) const { return m_held.count(name) != 0; }
    /// The number of values of weight `name` (0 when none was added).
    std::size_t size(const std::string& name) const;
    std::vector<std::string> names() const;
    bool empty() const { return m_held.empty(); }
    /// The bytes the held forms take (codes, scales, tables; 4 a float32 value).
    std::size_t bytes() const;

private:
    std::map<std::string, std::variant<CompactMatrix, std::vector<float>>> m_held;
};

} // namespace qs::core
