// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::plugins::example {

/// Example external plugin: how the model's parameters split over weight roles (linear, embedding,
/// norm, ...), and after a quantization run how many of them were quantized.
class LayerSummaryPlugin : public QObject, public ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "layer_summary".
    QString id() const override { return QStringLiteral("layer_summary"); }
    /// "Layer summary".
    QString title() const override { return QStringLiteral("Layer summary"); }
    /// A table of parameter counts per weight role that follows the context.
    QWidget* createView(ViewContext* context, QWidget* parent) override;
};

} // namespace qs::plugins::example
