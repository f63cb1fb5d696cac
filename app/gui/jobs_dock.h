// SPDX-License-Identifier: MIT
#pragma once
#include <QDockWidget>
#include <quantscope/plugin/job_service.h>

class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSplitter;
class QTimer;

namespace qs::gui {

/// The "Jobs" dock: a face of the job service — the running job's progress bar, status line ("RTN
/// layer 12/28 · 00:41 left", then how it ended) and Cancel button, beside the time-stamped log of
/// everything jobs and the window said.
class JobsDock : public QDockWidget {
    Q_OBJECT
public:
    /// A dock showing `jobs` (which outlives it).
    explicit JobsDock(plugins::JobService* jobs, QWidget* parent = nullptr);

    /// The status line and the log (for tests).
    QLabel* statusLabel() const { return m_status; }
    QPlainTextEdit* logView() const { return m_log; }
    /// The splitter between the job and the log (its sizes are saved with the window).
    QSplitter* splitter() const { return m_splitter; }

private:
    void onStarted();
    void onProgress(long long done, long long total, const QString& message);
    void onFinished(plugins::JobState state);
    void appendLog(plugins::LogLevel level, const QString& text);
    void updateStatus();

    plugins::JobService* m_jobs;
    QProgressBar* m_progress;
    QLabel* m_status;
    QPushButton* m_cancel;
    QPlainTextEdit* m_log;
    QSplitter* m_splitter;
    QTimer* m_timer;
    QString m_message;     ///< the running job's last progress message
    bool m_reported = false; ///< the job that ended said its outcome (JobService::report)
};

} // namespace qs::gui
