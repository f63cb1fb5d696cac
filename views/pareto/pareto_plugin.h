// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The Pareto chart of the open project's runs as a view plugin (a central tab).
class ParetoPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "pareto".
    QString id() const override { return QStringLiteral("pareto"); }
    /// "Pareto".
    QString title() const override { return tr("Pareto"); }
    /// A new ParetoView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
