// SPDX-License-Identifier: MIT
#include "builtin_views.h"

#include "cost_plugin.h"
#include "formats_plugin.h"
#include "histogram_plugin.h"
#include "landscape_plugin.h"
#include "layer_errors_plugin.h"
#include "sensitivity_plugin.h"
#include "layer_table_plugin.h"
#include "misalignment_plugin.h"
#include "outliers_plugin.h"
#include "pareto_plugin.h"
#include "predict_plugin.h"
#include "runs_plugin.h"
#include "spans_plugin.h"

namespace qs::gui {

void registerBuiltinViews(plugins::PluginManager& manager) {
    manager.addBuiltin(std::make_unique<views::LayerTablePlugin>());
    manager.addBuiltin(std::make_unique<views::HistogramPlugin>());
    manager.addBuiltin(std::make_unique<views::LayerErrorsPlugin>());
    manager.addBuiltin(std::make_unique<views::SensitivityPlugin>());
    manager.addBuiltin(std::make_unique<views::CostPlugin>());
    manager.addBuiltin(std::make_unique<views::LandscapePlugin>());
    manager.addBuiltin(std::make_unique<views::SpansPlugin>());
    manager.addBuiltin(std::make_unique<views::PredictPlugin>());
    manager.addBuiltin(std::make_unique<views::MisalignmentPlugin>());
    manager.addBuiltin(std::make_unique<views::FormatsPlugin>());
    manager.addBuiltin(std::make_unique<views::ParetoPlugin>());
    manager.addBuiltin(std::make_unique<views::OutliersPlugin>());
    manager.addBuiltin(std::make_unique<views::RunsPlugin>());
}

void loadExternalViews(plugins::PluginManager& manager, const QString& exeDir) {
    for (const QString& dir : plugins::PluginManager::defaultDirectories(exeDir))
        manager.loadDirectory(dir);
}

} // namespace qs::gui
