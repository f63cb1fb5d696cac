// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The local-vs-global misalignment analysis as a view plugin (a central tab).
class MisalignmentPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "misalignment".
    QString id() const override { return QStringLiteral("misalignment"); }
    /// "Local vs global".
    QString title() const override { return tr("Local vs global"); }
    /// A new MisalignmentView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
