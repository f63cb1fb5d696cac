// SPDX-License-Identifier: MIT
#pragma once
#include <QString>

namespace qs::plugins {
class ViewContext;
}

namespace qs::views {

/// "model.layers.3.self_attn.q_proj.weight" -> "3.q_proj": short enough for a tick label (the block index
/// of HF "layers.N" / GPT-2 "h.N" names, then the last part before ".weight").
QString shortLayerName(const QString& name);

/// Selects the first weight matrix of decoder layer `layer` in the shared context (what a per-layer bar
/// or cell does); false when no model is open or the layer has none.
bool selectDecoderLayer(plugins::ViewContext& context, int layer);

} // namespace qs::views
