// SPDX-License-Identifier: MIT
#include "spans_plugin.h"

#include "spans_view.h"

namespace qs::views {

QWidget* SpansPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new SpansView(context, parent);
}

} // namespace qs::views
