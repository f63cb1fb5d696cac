// SPDX-License-Identifier: MIT
#pragma once
#include <QString>
#include <functional>

class QCustomPlot;
class QMenu;

namespace qs::views {

/// Writes the plot at its current on-screen size to `path`; the format follows the extension
/// (.png, .pdf or .svg). Returns false with a message naming the file on failure.
bool exportPlot(QCustomPlot* plot, const QString& path, QString* error = nullptr);

/// Adds "Export PNG…", "Export PDF…" and "Export SVG…" to `menu`; each asks for a file name
/// (suggested from `baseName`) and reports a failure in a message box.
void addPlotExportActions(QMenu* menu, QCustomPlot* plot, const QString& baseName);

/// Gives `plot` a context menu holding the export actions; `baseName()` suggests file names.
void installPlotExportMenu(QCustomPlot* plot, std::function<QString()> baseName);

} // namespace qs::views
