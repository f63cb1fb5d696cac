// SPDX-License-Identifier: MIT
#pragma once
#include <QWidget>
#include <quantscope/plugin/view_context.h>

class QComboBox;
class QCustomPlot;
class QLabel;

namespace qs::views {

class AnalysisPanel;

/// How far back each attention head looks: the spans analysis as a layer × head heatmap (the span
/// holding the chosen share of each query's attention, or the queries' median or 95th percentile; a
/// click selects the layer's first weight everywhere), with the perplexity of attention masked to the
/// spans against the full model, the attention work saved and the KV cache kept.
class SpansView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit SpansView(plugins::ViewContext* context, QWidget* parent = nullptr);

    AnalysisPanel* panel() const { return m_panel; }
    QCustomPlot* heatmap() const { return m_heatmap; }
    /// The heatmap's figure: "span", "median", "p95".
    void setFigure(const QString& key);
    QString noteText() const;
    /// Selects the first weight of decoder layer `layer` in the shared context.
    bool selectLayer(int layer);

private:
    void redraw();

    plugins::ViewContext* m_context;
    AnalysisPanel* m_panel;
    QComboBox* m_figure;
    QLabel* m_note;
    QCustomPlot* m_heatmap;
};

} // namespace qs::views
