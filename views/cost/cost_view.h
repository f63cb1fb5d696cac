// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/analysis_run.h"
#include "experiment/cost_run.h"

#include <QWidget>
#include <optional>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;

namespace qs::views {

class ParamForm;

/// What a configuration buys on hardware: the chosen accelerator model (its parameters from its schema)
/// prices the selected run — or, with none selected, the current spec and layer rules with RTN — on
/// the calibration data as a job; the bars show its cost layer by layer (speedup, cycles, energy or the
/// ideal speedup; the selected layer highlighted, a click selects it everywhere), and the second plot
/// puts every run of the project priced on that design at (speedup, quality), so accuracy is read
/// against hardware cost. Price all runs prices each stored run in one job.
class CostView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit CostView(plugins::ViewContext* context, QWidget* parent = nullptr);

    QCustomPlot* bars() const { return m_bars; }
    QCustomPlot* pareto() const { return m_pareto; }
    ParamForm* form() const { return m_form; }
    /// The design (cost-model name) and the bars' figure ("speedup", "cycles", "energy", "potential_speedup").
    QString design() const;
    void setDesign(const QString& name);
    void setFigure(const QString& key);
    /// The shown pricing (none before the first).
    const std::optional<core::AnalysisOutcome>& outcome() const { return m_outcome; }
    /// The Pareto points: the runs priced on the design.
    const std::vector<core::CostPoint>& points() const { return m_points; }
    QString noteText() const;
    /// Prices the selected run (or the current spec) as a job; false with the reason in the note when
    /// no model or calibration data is there, or a job is running.
    bool price();
    /// Prices every finished run of the open project as one job; false as above (and without a project).
    bool priceAllRuns();
    /// Selects the layer of bar `index` in the shared context.
    bool selectBar(int index);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    bool startJob(const QString& title, std::vector<core::CostRequest> requests);
    void reloadPoints();
    void redraw();

    plugins::ViewContext* m_context;
    QComboBox* m_design;
    QComboBox* m_figure;
    QPushButton* m_price;
    QPushButton* m_priceAll;
    ParamForm* m_form;
    QLabel* m_note;
    QCustomPlot* m_bars;
    QCustomPlot* m_pareto;
    std::optional<core::AnalysisOutcome> m_outcome;
    std::vector<core::CostPoint> m_points;
    QString m_status;
};

} // namespace qs::views
