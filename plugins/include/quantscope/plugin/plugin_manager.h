// SPDX-License-Identifier: MIT
#pragma once
#include "quantscope/plugin/view_plugin.h"

#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>
#include <vector>

class QPluginLoader;

namespace qs::plugins {

/// The view plugins of one application: built-ins registered explicitly plus shared objects loaded
/// from plugin directories. Owned by whoever builds the window (no singleton); it must outlive every
/// view created from its plugins. Loaded libraries stay loaded until the manager is destroyed.
class PluginManager : public QObject {
    Q_OBJECT
public:
    /// One registered plugin.
    struct Entry {
        ViewPlugin* plugin = nullptr; ///< the interface (points into `object`)
        QObject* object = nullptr;    ///< the plugin's root object
        QString source;               ///< "built-in" or the file it was loaded from
    };

    /// An empty manager.
    explicit PluginManager(QObject* parent = nullptr);
    ~PluginManager() override;

    /// Registers a built-in plugin (a QObject implementing ViewPlugin) and takes ownership.
    /// Returns false and records an error when it is not a ViewPlugin or its id is taken.
    bool addBuiltin(std::unique_ptr<QObject> plugin);

    /// Loads one shared object. Returns false with a message naming the file when it cannot be
    /// loaded, is not a Qt plugin, is a plugin of another kind, or its id is already registered.
    bool loadFile(const QString& path, QString* error = nullptr);

    /// Loads every shared library (by file name: *.so) of a directory, in name order. A missing
    /// directory is not an error. Returns the number of plugins loaded; failures go to errors().
    int loadDirectory(const QString& directory);

    /// Every registered plugin, built-ins first, then in load order.
    const std::vector<Entry>& entries() const { return m_entries; }
    /// The plugins' interfaces, in entries() order.
    std::vector<ViewPlugin*> plugins() const;
    /// A plugin by id, nullptr when absent.
    ViewPlugin* find(const QString& id) const;
    /// Every error recorded so far (one line each, naming the file).
    const QStringList& errors() const { return m_errors; }

    /// The directories searched by default: `<exeDir>/../lib/quantscope/plugins`, then each entry
    /// of the QUANTSCOPE_PLUGIN_PATH environment variable (separated by ':').
    static QStringList defaultDirectories(const QString& exeDir);

signals:
    /// A plugin was registered (built-in or loaded).
    void pluginAdded(qs::plugins::ViewPlugin* plugin);

private:
    bool addEntry(QObject* object, const QString& source, QString* error);
    bool fail(const QString& message, QString* error);

    std::vector<Entry> m_entries;
    std::vector<std::unique_ptr<QObject>> m_owned;
    std::vector<std::unique_ptr<QPluginLoader>> m_loaders;
    QStringList m_errors;
};

} // namespace qs::plugins
