// SPDX-License-Identifier: MIT
#include "pareto_plugin.h"

#include "pareto_view.h"

namespace qs::views {

QWidget* ParetoPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new ParetoView(context, parent);
}

} // namespace qs::views
