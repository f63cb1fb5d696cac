// SPDX-License-Identifier: MIT
#include "common/layer_names.h"

#include <QStringList>

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

} // namespace qs::views
