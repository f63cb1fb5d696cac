// SPDX-License-Identifier: MIT
#pragma once
#include "analysis/sensitivity.h"

#include <QWidget>
#include <nlohmann/json.hpp>
#include <optional>
#include <quantscope/plugin/view_context.h>

class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QSpinBox;

namespace qs::views {

class ParamForm;

/// Which layers can go lower, and how they interact: a stored sensitivity analysis of the open project
/// as a heatmap (decision groups x candidate formats, coloured by the chosen measure: KL, change of
/// loss, top-1 disagreement, or a proxy), each proxy's rank correlation with the measured change, and
/// CLADO's pairwise-interaction matrix. Measure… runs a new analysis on the chosen calibration data as a
/// job (parameters from the analysis's schema); Mixed precision… plans formats under a budget. Clicking
/// a cell selects the group's first weight in every view.
class SensitivityView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit SensitivityView(plugins::ViewContext* context, QWidget* parent = nullptr);

    /// The shown analysis, none when the project has none.
    const std::optional<core::SensitivityResult>& result() const { return m_result; }
    /// Its stored id (0: none) and settings.
    qint64 analysisId() const { return m_analysisId; }
    const nlohmann::json& analysisSettings() const { return m_settings; }
    /// The heatmap and the interaction plot (for export and tests).
    QCustomPlot* heatmap() const { return m_heatmap; }
    QCustomPlot* pairPlot() const { return m_pairs; }
    /// The parameter form of Measure (the analysis's schema).
    ParamForm* form() const { return m_form; }
    /// Windows of 128 tokens taken from the calibration data as the sensitivity set (default 16).
    void setSetWindows(int windows);
    /// The line above the plots.
    QString noteText() const;
    /// Starts the analysis with the form's parameters as a job; false (with the reason in the note)
    /// when no model, calibration data or project is there, or a job is running.
    bool measure();
    /// Shows stored analysis `id` of the open project; false when it is not a sensitivity analysis.
    bool showAnalysis(qint64 id);
    /// Selects the first weight of group `index` in the shared context (what a click does).
    bool selectGroup(int index);
    /// The measure the heatmap shows: "kld", "delta_loss", "top1", "local_error", "hawq".
    QString metric() const;
    void setMetric(const QString& key);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void reloadList();
    void redraw();
    void openPlanner();

    plugins::ViewContext* m_context;
    QComboBox* m_analyses;
    QComboBox* m_metric;
    QPushButton* m_measure;
    QPushButton* m_plan;
    ParamForm* m_form;
    QSpinBox* m_setWindows;
    QLabel* m_note;
    QCustomPlot* m_heatmap;
    QCustomPlot* m_pairs;
    std::optional<core::SensitivityResult> m_result;
    qint64 m_analysisId = 0;
    nlohmann::json m_settings;
    QString m_status;
};

} // namespace qs::views
