// SPDX-License-Identifier: MIT
#pragma once
#include <QString>

namespace qs::views {

/// "model.layers.3.self_attn.q_proj.weight" -> "3.q_proj": short enough for a tick label (the block index
/// of HF "layers.N" / GPT-2 "h.N" names, then the last part before ".weight").
QString shortLayerName(const QString& name);

} // namespace qs::views
