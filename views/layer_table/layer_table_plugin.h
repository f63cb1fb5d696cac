// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The layer table as a view plugin (placed in the "Model" dock).
class LayerTablePlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "layer_table".
    QString id() const override { return QStringLiteral("layer_table"); }
    /// "Layers".
    QString title() const override { return tr("Layers"); }
    /// A new LayerTableView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
    /// The left "Model" dock.
    plugins::ViewArea area() const override { return plugins::ViewArea::Model; }
};

} // namespace qs::views
