// SPDX-License-Identifier: MIT
#pragma once
#include <QWidget>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QCustomPlot;
class QLabel;

namespace qs::views {

/// What the chart draws: one entry per quantizable weight of the model, in file order.
struct LayerErrorSeries {
    std::vector<QString> names;
    std::vector<double> sqnrDb;        ///< NaN where the layer has no result yet (or is kept: exact)
    std::vector<double> bitsPerWeight; ///< NaN where the layer has no result yet
    std::vector<bool> kept;            ///< left unquantized by a layer rule
};

/// Where the error of a recipe sits, layer by layer: the current result's SQNR per quantizable weight as
/// bars (higher is better; kept layers marked), its bits per weight as a line on the right axis, the
/// selected layer highlighted. It follows the shared state — Run ▶ fills it layer by layer, selecting a
/// run shows that run — and clicking a bar selects the layer in every view.
class LayerErrorsView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit LayerErrorsView(plugins::ViewContext* context, QWidget* parent = nullptr);

    /// The plot (for export and tests) and what it draws.
    QCustomPlot* plot() const { return m_plot; }
    const LayerErrorSeries& series() const { return m_series; }
    /// The title line ("RTN int4 asym group 32 · 28 layers · worst 3.down_proj 19.2 dB").
    QString titleText() const;
    /// Selects the layer of bar `index` in the shared context (what a click does); false when out of range.
    bool selectBar(int index);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void redraw();

    plugins::ViewContext* m_context;
    QCustomPlot* m_plot;
    QLabel* m_title;
    LayerErrorSeries m_series;
};

} // namespace qs::views
