// SPDX-License-Identifier: MIT
#include "misalignment_plugin.h"

#include "misalignment_view.h"

namespace qs::views {

QWidget* MisalignmentPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new MisalignmentView(context, parent);
}

} // namespace qs::views
