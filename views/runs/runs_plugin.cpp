// SPDX-License-Identifier: MIT
#include "runs_plugin.h"

#include "runs_view.h"

namespace qs::views {

QWidget* RunsPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new RunsView(context, parent);
}

} // namespace qs::views
