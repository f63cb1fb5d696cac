// SPDX-License-Identifier: MIT
#include "common/plot_export.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QSvgGenerator>
#include <qcustomplot.h>

namespace qs::views {

bool exportPlot(QCustomPlot* plot, const QString& path, QString* error) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    const int w = std::max(plot->width(), 320);
    const int h = std::max(plot->height(), 240);
    bool ok = false;
    if (suffix == QLatin1String("png")) {
        ok = plot->savePng(path, w, h, 2.0);
    } else if (suffix == QLatin1String("pdf")) {
        ok = plot->savePdf(path, w, h);
    } else if (suffix == QLatin1String("svg")) {
        QSvgGenerator generator;
        generator.setFileName(path);
        generator.setSize(QSize(w, h));
        generator.setViewBox(QRect(0, 0, w, h));
        generator.setTitle(plot->windowTitle());
        QCPPainter painter;
        ok = painter.begin(&generator);
        if (ok) {
            plot->toPainter(&painter, w, h);
            ok = painter.end();
        }
        ok = ok && QFileInfo(path).size() > 0;
    } else {
        if (error)
            *error =
                QStringLiteral("%1: unknown export format '%2' (use .png, .pdf or .svg)").arg(path, suffix);
        return false;
    }
    if (!ok && error) *error = QStringLiteral("%1: could not write the file").arg(path);
    return ok;
}

void addPlotExportActions(QMenu* menu, QCustomPlot* plot, const QString& baseName) {
    const auto add = [&](const QString& label, const QString& ext, const QString& filter) {
        QObject::connect(menu->addAction(label), &QAction::triggered, plot, [plot, baseName, ext, filter] {
            const QString path = QFileDialog::getSaveFileName(plot, QObject::tr("Export plot"),
                                                              baseName + QLatin1Char('.') + ext, filter);
            if (path.isEmpty()) return;
            QString error;
            if (!exportPlot(plot, path, &error))
                QMessageBox::warning(plot, QObject::tr("Export failed"), error);
        });
    };
    add(QObject::tr("Export PNG…"), QStringLiteral("png"), QObject::tr("PNG image (*.png)"));
    add(QObject::tr("Export PDF…"), QStringLiteral("pdf"), QObject::tr("PDF document (*.pdf)"));
    add(QObject::tr("Export SVG…"), QStringLiteral("svg"), QObject::tr("SVG drawing (*.svg)"));
}

void installPlotExportMenu(QCustomPlot* plot, std::function<QString()> baseName) {
    plot->setContextMenuPolicy(Qt::CustomContextMenu);
    QObject::connect(plot, &QWidget::customContextMenuRequested, plot, [plot, baseName](const QPoint& pos) {
        QMenu menu(plot);
        addPlotExportActions(&menu, plot, baseName ? baseName() : QStringLiteral("plot"));
        menu.exec(plot->mapToGlobal(pos));
    });
}

} // namespace qs::views
