// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// A run's cost on an accelerator model, and accuracy against hardware cost, as a view plugin.
class CostPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "cost".
    QString id() const override { return QStringLiteral("cost"); }
    /// "Hardware cost".
    QString title() const override { return tr("Hardware cost"); }
    /// A new CostView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
