// SPDX-License-Identifier: MIT
#pragma once
#include <QWidget>
#include <quantscope/plugin/view_context.h>

class QComboBox;
class QCustomPlot;
class QLabel;

namespace qs::views {

class AnalysisPanel;

/// Does a better layer-local objective mean a better model? The misalignment analysis of one weight
/// (the selected one unless the form names another) as a scatter of every candidate quantization's
/// local objective tr(ΔW H ΔWᵀ) against the global change of loss or KL, one colour per format, with
/// each format's rank correlations: the paper's finding is that they weaken as precision drops.
class MisalignmentView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit MisalignmentView(plugins::ViewContext* context, QWidget* parent = nullptr);

    AnalysisPanel* panel() const { return m_panel; }
    QCustomPlot* scatter() const { return m_scatter; }
    /// The vertical axis: "delta_loss" or "kld".
    void setGlobal(const QString& key);
    QString noteText() const;

private:
    void redraw();

    plugins::ViewContext* m_context;
    AnalysisPanel* m_panel;
    QComboBox* m_global;
    QLabel* m_note;
    QCustomPlot* m_scatter;
};

} // namespace qs::views
