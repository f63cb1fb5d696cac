// SPDX-License-Identifier: MIT
#pragma once
#include <QWidget>
#include <quantscope/plugin/view_context.h>

class QCustomPlot;
class QLabel;

namespace qs::views {

class AnalysisPanel;

/// Quality before evaluation: the predict analysis fitted on the open project's evaluated runs of the
/// open model — each run's leave-one-out prediction against its measured quality (with y = x), the
/// features' permutation importances, and the learners' errors beside predicting the mean.
class PredictView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit PredictView(plugins::ViewContext* context, QWidget* parent = nullptr);

    AnalysisPanel* panel() const { return m_panel; }
    QCustomPlot* scatter() const { return m_scatter; }
    QCustomPlot* importance() const { return m_importance; }
    QString noteText() const;

private:
    void redraw();

    plugins::ViewContext* m_context;
    AnalysisPanel* m_panel;
    QLabel* m_note;
    QCustomPlot* m_scatter;
    QCustomPlot* m_importance;
};

} // namespace qs::views
