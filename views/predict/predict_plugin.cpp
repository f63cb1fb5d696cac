// SPDX-License-Identifier: MIT
#include "predict_plugin.h"

#include "predict_view.h"

namespace qs::views {

QWidget* PredictPlugin::createView(plugins::ViewContext* context, QWidget* parent) {
    return new PredictView(context, parent);
}

} // namespace qs::views
