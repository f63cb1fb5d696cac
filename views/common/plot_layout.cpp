// SPDX-License-Identifier: MIT
#include "common/plot_layout.h"

#include <QFontMetrics>
#include <QRegularExpression>
#include <QStringList>
#include <qcustomplot.h>

namespace qs::views {

void placeLegendBelow(QCPLegend* legend, QCPAxisRect* rect, int wrap) {
    QCustomPlot* plot = rect->parentPlot();
    QCPLayoutGrid* grid = plot->plotLayout();
    if (legend->layout() && legend->layout()->layout() == grid) return; // already in its row
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
    // The legend shares its row with a spacer: a grid column is no wider than the narrowest maximum of its
    // elements, and a legend's maximum is its entries' width (an empty one's almost nothing), which would
    // squeeze the plot above it.
    auto* holder = new QCPLayoutGrid;
    grid->insertRow(row + 1);
    grid->addElement(row + 1, col, holder);
    grid->setRowStretchFactor(row + 1, 0.001); // as tall as its entries
    holder->addElement(0, 0, legend);
    holder->addElement(0, 1, new QCPLayoutElement(plot));
    holder->setColumnStretchFactors({0.001, 1});
    legend->setFillOrder(QCPLegend::foColumnsFirst);
    legend->setWrap(wrap);
    legend->setMargins(QMargins(6, 3, 6, 3));
    legend->setIconSize(32, 20);
    grid->setMargins(QMargins(0, 0, 0, 3)); // a legend's frame off the widget's bottom edge
}

void setWrappedText(QCPTextElement* element, const QString& text) {
    const QFontMetrics metrics(element->font());
    const int width = element->parentPlot()->width() - 24; // the plot's side margins
    QStringList out;
    for (const QString& line : text.split(QLatin1Char('\n'))) {
        // Tokens that end at a separator, so a break falls after "·" or ",".
        QStringList tokens;
        qsizetype from = 0;
        static const QRegularExpression separator(QStringLiteral("(\\s+·\\s+|,\\s+|:\\s+)"));
        for (auto it = separator.globalMatch(line); it.hasNext();) {
            const auto m = it.next();
            tokens << line.mid(from, m.capturedEnd() - from);
            from = m.capturedEnd();
        }
        tokens << line.mid(from);
        QString current;
        for (const QString& token : tokens) {
            if (!current.isEmpty() && metrics.horizontalAdvance((current + token).trimmed()) > width) {
                out << current.trimmed();
                current.clear();
            }
            current += token;
        }
        out << current.trimmed();
    }
    element->setText(out.join(QLatin1Char('\n')));
}

} // namespace qs::views
