// SPDX-License-Identifier: MIT
#include "histogram_plugin.h"

#include "histogram_view.h"

namespace qs::views {

QWidget* HistogramPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new HistogramView(context, parent);
}

} // namespace qs::views
