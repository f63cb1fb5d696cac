// SPDX-License-Identifier: MIT
#pragma once
#include "pareto_data.h"
#include "pareto_plot.h"

#include <QWidget>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;
class QMouseEvent;

namespace qs::views {

/// Size (or hardware cost: the cycles of the runs priced on a cost model, relative to its baseline)
/// against quality of every run of the open project: one scatter series per method or format,
/// the non-dominated front as a step line, the fp32 reference as a dashed line. Hover shows a run's
/// recipe and figures, a click selects it in the ViewContext (so every view follows), the wheel
/// zooms and dragging pans (double-click resets). Export PNG/PDF/SVG from the context menu. A plan
/// being chosen elsewhere (ViewContext::planPreview, the Mixed-precision dialog's slider) is drawn
/// live: its solver's predicted frontier dashed and the plan as a star, on perplexity axes.
class ParetoView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit ParetoView(plugins::ViewContext* context, QWidget* parent = nullptr);

    /// The plot (for export and tests).
    QCustomPlot* plot() const { return m_plot; }
    /// What is drawn.
    const ParetoData& data() const { return m_data; }
    /// The current axes and options.
    ParetoStyle style() const;
    /// Chooses the axes and grouping (updates the combo boxes and redraws).
    void setAxes(const std::string& x, const std::string& y, ParetoGroup group);
    /// Log axes (a y metric that can be zero or negative leaves log y off).
    void setLogAxes(bool logX, bool logY);
    /// How the y range is fitted (robust, front, all) and whether points carry their labels.
    void setRange(ParetoRange range);
    void setLabels(bool on);
    /// Re-reads the runs of the open project and their pricings (an x axis per priced cost model).
    void reload();
    /// Selects the run under `pixel` (plot coordinates) in the context; returns its id, 0 when none.
    std::int64_t selectAt(QPointF pixel);
    /// The status line ("12 runs, 4 on the front").
    QString statusText() const;

private:
    void redraw();
    /// Redraws for a new selection, keeping the user's zoom and pan.
    void redrawKeepingZoom();
    void onMouseMove(QMouseEvent* event);
    void onMouseRelease(QMouseEvent* event);
    /// Puts the context's plan preview into m_data (or why it cannot be drawn into m_previewNote).
    void addPreview();

    plugins::ViewContext* m_context;
    QComboBox* m_x;
    QComboBox* m_y;
    QComboBox* m_group;
    QCheckBox* m_logX;
    QCheckBox* m_logY;
    QComboBox* m_range;
    QCheckBox* m_labels;
    ParetoYRange m_yRange;
    QLabel* m_status;
    QCustomPlot* m_plot;
    std::vector<core::RunRecord> m_runs;
    std::map<std::int64_t, std::string> m_plans; ///< runs chosen by mixed-precision plans: their solvers
    RunCosts m_costs;                            ///< per priced cost model, each priced run's relative cycles
    ParetoData m_data;
    QString m_loadError;
    QString m_previewNote; ///< why the plan being chosen is not drawn, empty when it is (or none)
    QPointF m_pressPos;
};

} // namespace qs::views
