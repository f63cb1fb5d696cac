// SPDX-License-Identifier: MIT
#include "layer_errors_plugin.h"

#include "layer_errors_view.h"

namespace qs::views {

QWidget* LayerErrorsPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new LayerErrorsView(context, parent);
}

} // namespace qs::views
