// SPDX-License-Identifier: MIT
#pragma once
#include <QObject>
#include <quantscope/plugin/view_plugin.h>

namespace qs::views {

/// The weight histogram of the selected layer as a view plugin (a central tab).
class HistogramPlugin : public QObject, public plugins::ViewPlugin {
    Q_OBJECT
    Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)
    Q_INTERFACES(qs::plugins::ViewPlugin)
public:
    /// "histogram".
    QString id() const override { return QStringLiteral("histogram"); }
    /// "Histogram".
    QString title() const override { return tr("Histogram"); }
    /// A new HistogramView.
    QWidget* createView(plugins::ViewContext* context, QWidget* parent) override;
};

} // namespace qs::views
