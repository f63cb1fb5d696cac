// SPDX-License-Identifier: MIT
#include "outliers_plugin.h"

#include "outliers_view.h"

namespace qs::views {

QWidget* OutliersPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new OutliersView(context, parent);
}

} // namespace qs::views
