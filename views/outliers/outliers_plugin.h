// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The outlier channels and per-layer kurtosis as a view plugin (a central tab).
class OutliersPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "outliers".
    QString id() const override { return QStringLiteral("outliers"); }
    /// "Outliers".
    QString title() const override { return tr("Outliers"); }
    /// A new ParetoView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
