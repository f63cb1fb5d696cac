// SPDX-License-Identifier: MIT
#include "spans_plot.h"

#include <algorithm>
#include <qcustomplot.h>

namespace qs::views {

void drawSpansHeatmap(QCustomPlot* plot, const Eigen::MatrixXd& m, int ctx, const QString& scaleLabel) {
    plot->xAxis->setLabel(QObject::tr("decoder layer"));
    plot->yAxis->setLabel(QObject::tr("attention head"));
    auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
    map->data()->setSize(int(m.rows()), int(m.cols()));
    map->data()->setRange(QCPRange(0, double(m.rows()) - 1), QCPRange(0, double(m.cols()) - 1));
    for (Eigen::Index l = 0; l < m.rows(); ++l)
        for (Eigen::Index h = 0; h < m.cols(); ++h) map->data()->setCell(int(l), int(h), m(l, h));
    auto* scale = new QCPColorScale(plot);
    plot->plotLayout()->addElement(0, 1, scale);
    scale->axis()->setLabel(scaleLabel);
    map->setColorScale(scale);
    map->setGradient(QCPColorGradient::gpThermal);
    map->setInterpolate(false); // one cell per layer and head
    map->setDataRange(QCPRange(0, std::max(1, ctx)));
    plot->xAxis->setRange(-0.5, double(m.rows()) - 0.5);
    plot->yAxis->setRange(-0.5, double(m.cols()) - 0.5);
}

} // namespace qs::views
