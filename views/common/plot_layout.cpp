// SPDX-License-Identifier: MIT
#include "common/plot_layout.h"

#include <qcustomplot.h>

namespace qs::views {

void placeLegendBelow(QCPLegend* legend, QCPAxisRect* rect, int wrap) {
    QCustomPlot* plot = rect->parentPlot();
    QCPLayoutGrid* grid = plot->plotLayout();
    if (legend->layout() == grid) return;
    if (auto* inset = qobject_cast<QCPLayoutInset*>(legend->layout())) {
        inset->take(legend);
        inset->simplify();
    }
    int row = 0, col = 0;
    for (int r = 0; r < grid->rowCount(); ++r)
        for (int c = 0; c < grid->columnCount(); ++c)
            if (grid->element(r, c) == rect) {
                row = r;
                col = c;
            }
    grid->insertRow(row + 1);
    grid->addElement(row + 1, col, legend);
    grid->setRowStretchFactor(row + 1, 0.001); // as tall as its entries
    legend->setFillOrder(QCPLegend::foColumnsFirst);
    legend->setWrap(wrap);
    legend->setMargins(QMargins(6, 3, 6, 3));
    legend->setIconSize(32, 20);
}

} // namespace qs::views
