// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The sensitivity analysis and mixed-precision plans as a view plugin (a central tab).
class SensitivityPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "sensitivity".
    QString id() const override { return QStringLiteral("sensitivity"); }
    /// "Sensitivity".
    QString title() const override { return tr("Sensitivity"); }
    /// A new SensitivityView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
