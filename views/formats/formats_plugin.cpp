// SPDX-License-Identifier: MIT
#include "formats_plugin.h"

#include "formats_view.h"

namespace qs::views {

QWidget* FormatsPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new FormatsView(context, parent);
}

} // namespace qs::views
