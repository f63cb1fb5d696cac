// SPDX-License-Identifier: MIT
#include "landscape_plugin.h"

#include "landscape_view.h"

namespace qs::views {

QWidget* LandscapePlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new LandscapeView(context, parent);
}

} // namespace qs::views
