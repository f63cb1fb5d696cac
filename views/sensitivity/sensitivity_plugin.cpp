// SPDX-License-Identifier: MIT
#include "sensitivity_plugin.h"

#include "sensitivity_view.h"

namespace qs::views {

QWidget* SensitivityPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new SensitivityView(context, parent);
}

} // namespace qs::views
