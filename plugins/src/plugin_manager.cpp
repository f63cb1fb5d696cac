// SPDX-License-Identifier: MIT
#include "quantscope/plugin/plugin_manager.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonObject>
#include <QLibrary>
#include <QPluginLoader>

namespace qs::plugins {

PluginManager::PluginManager(QObject* parent) : QObject(parent) {}

// Destroying a QPluginLoader does not unload its library (only unload() would): views created from
// a plugin may outlive the manager, so loaded code stays mapped until the process exits.
PluginManager::~PluginManager() = default;

bool PluginManager::fail(const QString& message, QString* error) {
    m_errors << message;
    if (error) *error = message;
    return false;
}

bool PluginManager::addEntry(QObject* object, const QString& source, QString* error) {
    auto* plugin = qobject_cast<ViewPlugin*>(object);
    if (!plugin)
        return fail(
            QStringLiteral("%1: the plugin object does not implement %2").arg(source, QS_VIEW_PLUGIN_IID),
            error);
    const QString id = plugin->id();
    if (id.isEmpty()) return fail(QStringLiteral("%1: the plugin has an empty id").arg(source), error);
    if (find(id))
        return fail(
            QStringLiteral("%1: a view plugin with id '%2' is already registered (ignored)").arg(source, id),
            error);
    m_entries.push_back({plugin, object, source});
    emit pluginAdded(plugin);
    return true;
}

bool PluginManager::addBuiltin(std::unique_ptr<QObject> plugin) {
    if (!plugin) return fail(QStringLiteral("built-in: null plugin"), nullptr);
    QObject* object = plugin.get();
    if (!addEntry(object,
                  QStringLiteral("built-in %1").arg(QString::fromLatin1(object->metaObject()->className())),
                  nullptr))
        return false;
    m_owned.push_back(std::move(plugin));
    return true;
}

bool PluginManager::loadFile(const QString& path, QString* error) {
    const QFileInfo info(path);
    const QString name = info.fileName().isEmpty() ? path : info.absoluteFilePath();
    if (!info.exists()) return fail(QStringLiteral("%1: no such file").arg(name), error);
    if (!info.isFile()) return fail(QStringLiteral("%1: not a file").arg(name), error);

    auto loader = std::make_unique<QPluginLoader>(info.absoluteFilePath());
    // The metadata is read without running any of the library's code.
    const QJsonObject meta = loader->metaData();
    if (meta.isEmpty()) {
        const QString why = loader->errorString();
        return fail(
            QStringLiteral("%1: not a QuantScope view plugin (not a Qt plugin library: %2)").arg(name, why),
            error);
    }
    const QString iid = meta.value(QStringLiteral("IID")).toString();
    if (iid != QStringLiteral(QS_VIEW_PLUGIN_IID))
        return fail(QStringLiteral("%1: a Qt plugin of another kind (interface '%2', expected '%3')")
                        .arg(name, iid, QStringLiteral(QS_VIEW_PLUGIN_IID)),
                    error);
    QObject* object = loader->instance();
    if (!object)
        return fail(QStringLiteral("%1: cannot load the plugin: %2").arg(name, loader->errorString()), error);
    if (!addEntry(object, info.absoluteFilePath(), error)) return false;
    m_loaders.push_back(std::move(loader));
    return true;
}

int PluginManager::loadDirectory(const QString& directory) {
    const QDir dir(directory);
    if (directory.isEmpty() || !dir.exists()) return 0;
    int loaded = 0;
    const auto files = dir.entryInfoList(QDir::Files | QDir::Readable, QDir::Name);
    for (const QFileInfo& f : files) {
        if (!QLibrary::isLibrary(f.fileName())) continue;
        if (loadFile(f.absoluteFilePath())) ++loaded;
    }
    return loaded;
}

std::vector<ViewPlugin*> PluginManager::plugins() const {
    std::vector<ViewPlugin*> out;
    out.reserve(m_entries.size());
    for (const auto& e : m_entries)
        out.push_back(e.plugin);
    return out;
}

ViewPlugin* PluginManager::find(const QString& id) const {
    for (const auto& e : m_entries)
        if (e.plugin->id() == id) return e.plugin;
    return nullptr;
}

QStringList PluginManager::defaultDirectories(const QString& exeDir) {
    QStringList dirs;
    dirs << QDir::cleanPath(exeDir + QStringLiteral("/../lib/quantscope/plugins"));
    const QString env = qEnvironmentVariable("QUANTSCOPE_PLUGIN_PATH");
    for (const QString& d : env.split(QDir::listSeparator(), Qt::SkipEmptyParts))
        if (!dirs.contains(QDir::cleanPath(d))) dirs << QDir::cleanPath(d);
    return dirs;
}

} // namespace qs::plugins
