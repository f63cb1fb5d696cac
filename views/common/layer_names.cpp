// SPDX-License-Identifier: MIT
#include "common/layer_names.h"

#include <QStringList>
#include <quantscope/plugin/view_context.h>

namespace qs::views {

QString shortLayerName(const QString& name) {
    QStringList parts = name.split(QLatin1Char('.'));
    if (!parts.isEmpty() && parts.last() == QLatin1String("weight")) parts.removeLast();
    QString layer;
    for (int i = 0; i + 1 < parts.size(); ++i)
        if (parts[i] == QLatin1String("layers") || parts[i] == QLatin1String("h"))
            layer = parts[i + 1] + QLatin1Char('.');
    return layer + (parts.isEmpty() ? name : parts.last());
}

bool selectDecoderLayer(plugins::ViewContext& context, int layer) {
    const auto& model = context.model();
    if (!model) return false;
    for (const core::WeightInfo& w : model->weights())
        if (w.layerIndex == layer && w.shape.size() == 2) {
            context.setSelectedLayer(QString::fromStdString(w.name));
            return true;
        }
    return false;
}

} // namespace qs::views
