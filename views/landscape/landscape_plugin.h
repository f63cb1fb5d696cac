// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The landscape analysis as a view plugin (a central tab).
class LandscapePlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "landscape".
    QString id() const override { return QStringLiteral("landscape"); }
    /// "Landscape".
    QString title() const override { return tr("Landscape"); }
    /// A new LandscapeView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
