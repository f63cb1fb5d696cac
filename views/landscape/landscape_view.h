// SPDX-License-Identifier: MIT
#pragma once
#include <QWidget>
#include <quantscope/plugin/view_context.h>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;

namespace qs::views {

class AnalysisPanel;

/// Why a quantized model is as good as it is, seen from the loss: the landscape analysis's slices
/// L(W + t·v) (one curve per direction, the quantized point t = 1 marked), the 2-D grid over two
/// directions as a colour map, and per-layer bars (curvature along each direction's part in that
/// layer, Hessian trace, top eigenvalue; a click selects the layer's first weight everywhere). By
/// default the first direction is the current recipe's quantization error (the selected run's, else
/// the panel's spec with RTN).
class LandscapeView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit LandscapeView(plugins::ViewContext* context, QWidget* parent = nullptr);

    AnalysisPanel* panel() const { return m_panel; }
    QCustomPlot* slices() const { return m_slices; }
    QCustomPlot* grid() const { return m_grid; }
    QCustomPlot* bars() const { return m_bars; }
    /// Whether the first direction is the current recipe's error (else the form's direction).
    void setUseRecipe(bool on);
    /// The bars' figure: "curvature_1", "curvature_2", "trace", "eigen".
    void setBarFigure(const QString& key);
    QString noteText() const;
    /// Selects the first weight of decoder layer `layer` in the shared context.
    bool selectLayer(int layer);

private:
    void redraw();

    plugins::ViewContext* m_context;
    AnalysisPanel* m_panel;
    QCheckBox* m_useRecipe;
    QComboBox* m_barFigure;
    QLabel* m_note;
    QCustomPlot* m_slices;
    QCustomPlot* m_grid;
    QCustomPlot* m_bars;
};

} // namespace qs::views
