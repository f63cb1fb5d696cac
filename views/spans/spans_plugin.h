// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The attention-span analysis as a view plugin (a central tab).
class SpansPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "spans".
    QString id() const override { return QStringLiteral("spans"); }
    /// "Attention spans".
    QString title() const override { return tr("Attention spans"); }
    /// A new SpansView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
