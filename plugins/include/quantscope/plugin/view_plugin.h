// SPDX-License-Identifier: MIT
#pragma once
#include <QString>
#include <QtPlugin>

class QWidget;

namespace qs::plugins {

class ViewContext;

/// Where the main window puts a plugin's view.
enum class ViewArea {
    Center = 0, ///< a tab of the central view area (plots, tables about the selection)
    Model = 1,  ///< the left "Model" dock (the layer table)
};

/// A view of the shared state (model, layer statistics, quantization result, selection).
///
/// A plugin is a QObject that implements this interface, declares
/// `Q_PLUGIN_METADATA(IID QS_VIEW_PLUGIN_IID)` and `Q_INTERFACES(qs::plugins::ViewPlugin)`, and is
/// either registered as a built-in by the application or built as a shared object that
/// PluginManager loads with QPluginLoader. Views read everything from the ViewContext and set the
/// selection through it, so selecting a layer in one view selects it in all of them.
class ViewPlugin {
public:
    virtual ~ViewPlugin() = default;
    /// Stable identifier, e.g. "histogram" (lower case, used in settings and on the command line).
    virtual QString id() const = 0;
    /// Human title, e.g. "Histogram" (the tab or dock title).
    virtual QString title() const = 0;
    /// Creates a new view over `context` (which outlives the view) as a child of `parent`.
    virtual QWidget* createView(ViewContext* context, QWidget* parent) = 0;
    /// Where the main window places the view; tabs in the centre unless overridden.
    virtual ViewArea area() const { return ViewArea::Center; }
};

} // namespace qs::plugins

/// Interface id of view plugins; the major version changes when the interface breaks.
#define QS_VIEW_PLUGIN_IID "org.quantscope.ViewPlugin/1.0"

Q_DECLARE_INTERFACE(qs::plugins::ViewPlugin, QS_VIEW_PLUGIN_IID)
