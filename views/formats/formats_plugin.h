// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The Formats view as a view plugin (a central tab): number line, error histogram and a
/// comparison table of every number format on the selected layer.
class FormatsPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "formats".
    QString id() const override { return QStringLiteral("formats"); }
    /// "Formats".
    QString title() const override { return tr("Formats"); }
    /// A new FormatsView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
