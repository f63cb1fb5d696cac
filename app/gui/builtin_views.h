// SPDX-License-Identifier: MIT
#pragma once
#include <quantscope/plugin/plugin_manager.h>

namespace qs::gui {

/// Registers the views built into the application (layer table, histogram, formats, pareto,
/// outliers, runs), explicitly.
void registerBuiltinViews(plugins::PluginManager& manager);

/// Loads external view plugins from PluginManager::defaultDirectories(exeDir).
void loadExternalViews(plugins::PluginManager& manager, const QString& exeDir);

} // namespace qs::gui
