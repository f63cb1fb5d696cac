// SPDX-License-Identifier: MIT
#include "cost_plugin.h"

#include "cost_view.h"

namespace qs::views {

QWidget* CostPlugin::createView(plugins::ViewContext* context, QWidget* parent) { return new CostView(context, parent); }

} // namespace qs::views
