// SPDX-License-Identifier: MIT
#include "layer_table_plugin.h"

#include "layer_table_view.h"

namespace qs::views {

QWidget* LayerTablePlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new LayerTableView(context, parent);
}

} // namespace qs::views
