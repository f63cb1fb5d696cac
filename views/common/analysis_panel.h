// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/analysis_run.h"

#include <QWidget>
#include <functional>
#include <optional>
#include <quantscope/plugin/view_context.h>

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace qs::views {

class ParamForm;

/// The controls every registered-analysis view shares: the project's stored analyses of one kind (the
/// newest is shown when a project opens), the analysis's parameter form (from its schema), the windows
/// of the chosen data it runs on, Measure (a job with progress and cancel; stored in the open project,
/// or shown unstored without one) and a status line. The view draws outcome() on changed().
class AnalysisPanel : public QWidget {
    Q_OBJECT
public:
    /// Which chosen data the analysis reads.
    enum class Data { Evaluation, Calibration };

    /// A panel for analysis `kind` over `context` (which must outlive it); `windows`: the default
    /// windows of 128 tokens taken from the data.
    AnalysisPanel(plugins::ViewContext* context, const std::string& kind, Data data, int windows,
                  QWidget* parent = nullptr);

    /// Adjusts the request (the form's parameters in it) before Measure runs it, e.g. puts in the
    /// selected run's recipe and the calibration data it needs; may throw std::exception, whose message
    /// becomes the status.
    void setRequestHook(std::function<void(core::AnalysisRequest&)> hook) { m_hook = std::move(hook); }
    ParamForm* form() const { return m_form; }
    /// Shows only these parameters in the form (the request hook fills the others; defaults the rest).
    void showOnly(const std::vector<std::string>& names);
    void setWindows(int windows);
    /// The shown analysis (none before the first).
    const std::optional<core::AnalysisOutcome>& outcome() const { return m_outcome; }
    /// The status line (why Measure cannot run, or how the analysis was obtained).
    QString status() const;
    /// Starts the analysis as a job; false (with the reason in the status) when no model or data is
    /// there or a job is running.
    bool measure();
    /// Shows stored analysis `id` of the open project; false when it is not of this kind.
    bool showAnalysis(qint64 id);

signals:
    /// outcome() or status() changed.
    void changed();

private:
    /// Lists the project's analyses of this kind and shows `show` (0: the newest).
    void reloadList(qint64 show = 0);
    void setStatus(const QString& text);

    plugins::ViewContext* m_context;
    std::string m_kind;
    Data m_data;
    QComboBox* m_stored;
    ParamForm* m_form;
    QSpinBox* m_windows;
    QPushButton* m_measure;
    QLabel* m_status;
    std::function<void(core::AnalysisRequest&)> m_hook;
    std::optional<core::AnalysisOutcome> m_outcome;
};

/// The analysis views' layout: `note` across the top, `left` (the panel and its companions) beside
/// `right` (the charts), which takes the spare width.
void layOutNoteAndBody(QWidget* view, QLabel* note, QWidget* left, QWidget* right);

/// The layout of a view with one chart: layOutNoteAndBody with `panel` on the left and, on the right,
/// a row "`choiceLabel` `choice`" above `chart`.
void layOutAnalysisView(QWidget* view, QLabel* note, AnalysisPanel* panel, const QString& choiceLabel,
                        QComboBox* choice, QWidget* chart);

} // namespace qs::views
