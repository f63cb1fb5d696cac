// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/histogram.h"

#include <QFutureWatcher>
#include <QWidget>
#include <memory>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QCheckBox;
class QCPBars;
class QCPGraph;
class QCPTextElement;
class QCustomPlot;
class QSpinBox;

namespace qs::views {

/// Histogram of the selected layer's weights, computed off the GUI thread with core's
/// computeHistogram. Bins and a log count axis are user choices; after a quantization run the
/// title carries the layer's MSE and SQNR. Its context menu exports PNG/PDF/SVG.
class HistogramView : public QWidget {
    Q_OBJECT
public:
    /// A histogram over `context` (which must outlive it).
    explicit HistogramView(plugins::ViewContext* context, QWidget* parent = nullptr);
    ~HistogramView() override;

    /// The plot (for export and tests).
    QCustomPlot* plot() const { return m_plot; }
    /// Number of bins.
    int bins() const;
    /// Sets the number of bins (recomputes).
    void setBins(int bins);
    /// True when the count axis is logarithmic.
    bool isLogScale() const;
    /// Switches the count axis between linear and logarithmic.
    void setLogScale(bool on);
    /// The layer whose histogram is drawn, empty when none.
    const QString& shownLayer() const { return m_shownLayer; }
    /// The histogram drawn, empty counts when none.
    const core::Histogram& histogram() const { return m_histogram; }
    /// The first line of the plot's title.
    QString titleText() const;
    /// The quantization grid drawn over the histogram: the values the shown layer's spec (its
    /// assignment in the current result, else the Parameters' spec) represents, fitted to the whole
    /// tensor; empty when there is none or it is too dense to draw.
    const std::vector<double>& gridValues() const { return m_grid; }
    /// What the grid line says ("int4 asym group 32: 16 levels, fitted to the whole tensor; ...").
    QString gridCaption() const { return m_gridCaption; }

signals:
    /// A new histogram was drawn (or the plot was cleared).
    void histogramUpdated();

private:
    struct Computed;
    void requestUpdate();
    void onComputed();
    void draw();
    void updateTitle();
    void applyScale();
    void drawGrid();
    void showContextMenu(const QPoint& pos);

    plugins::ViewContext* m_context;
    QCustomPlot* m_plot;
    QCPBars* m_bars;
    QCPGraph* m_gridLines;
    std::vector<double> m_grid;
    QString m_gridCaption;
    QCPTextElement* m_title;
    QCPTextElement* m_subtitle;
    QSpinBox* m_bins;
    QCheckBox* m_log;
    std::unique_ptr<QFutureWatcher<std::shared_ptr<Computed>>> m_watcher;
    bool m_pending = false;
    QString m_shownLayer;
    QString m_error;
    core::Histogram m_histogram;
    // The last layer's values, kept so changing the bin count does not re-read the weight.
    const core::Model* m_cacheModel = nullptr;
    QString m_cacheLayer;
    std::shared_ptr<const std::vector<float>> m_cacheData;
};

} // namespace qs::views
