// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// Per-layer SQNR and bits of the current result as a view plugin (a central tab).
class LayerErrorsPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "layer_errors".
    QString id() const override { return QStringLiteral("layer_errors"); }
    /// "Layer errors".
    QString title() const override { return tr("Layer errors"); }
    /// A new LayerErrorsView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
