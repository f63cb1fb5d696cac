// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <functional>
#include <memory>
#include <optional>

class QThread;

namespace qs::gui {

/// How the last job ended (or that one is running).
enum class JobState { Idle, Running, Succeeded, Cancelled, Failed };

/// "idle", "running", "succeeded", "cancelled", "failed".
QString jobStateName(JobState state);

/// "RTN layer 12/28 · 00:41 left" (the time part only when `secondsLeft` is known).
QString formatJobStatus(const QString& title, const QString& unit, long long done, long long total,
                        std::optional<double> secondsLeft);

/// Runs one engine job at a time on its own thread, wrapping core::JobContext: progress arrives
/// as queued signals in the GUI thread, cancel() sets the CancelToken. core::Cancelled ends the job
/// as Cancelled (not an error); any other exception ends it as Failed with its message.
class JobRunner : public QObject {
    Q_OBJECT
public:
    /// The job body: runs on the worker thread and returns what to do with its result on the GUI
    /// thread (called before finished() when the job succeeds; may be empty).
    using Work = std::function<std::function<void()>(const core::JobContext&)>;

    /// An idle runner.
    explicit JobRunner(QObject* parent = nullptr);
    /// Cancels a running job and waits for its thread.
    ~JobRunner() override;

    /// Starts `work`; `title` and `unit` name it in the status ("RTN", "layer"). Returns false
    /// (and does nothing) while another job runs.
    bool start(const QString& title, const QString& unit, Work work);
    /// Asks the running job to stop (returns at once; finished() follows).
    void cancel();
    /// True between start() and finished().
    bool isRunning() const { return m_state == JobState::Running; }
    /// State of the current or last job.
    JobState state() const { return m_state; }
    /// True when the running job was asked to stop.
    bool isCancelRequested() const;
    /// Title of the current or last job.
    const QString& title() const { return m_title; }
    /// Steps done / total of the current or last job.
    long long done() const { return m_done; }
    long long total() const { return m_total; }
    /// Seconds since the job started (frozen when it ended).
    double elapsedSeconds() const;
    /// Remaining time extrapolated from the rate so far; nullopt before it can be estimated.
    std::optional<double> secondsLeft() const;
    /// The status line of the running job, e.g. "RTN layer 12/28 · 00:41 left".
    QString statusText() const;
    /// Blocks until the worker thread ended (or `msecs` passed); true when it has. Queued results
    /// are delivered by the event loop afterwards.
    bool waitForThread(int msecs);

signals:
    /// A job started.
    void started(const QString& title);
    /// Progress of the running job (`message` from the engine, e.g. "rtn model.layers.3.mlp.up_proj").
    void progress(long long done, long long total, const QString& message);
    /// The job ended; `message` is the error for Failed, empty otherwise.
    void finished(qs::gui::JobState state, const QString& message);

private:
    void onProgress(long long done, long long total, const QString& message);
    void onDone(JobState state, QString message, const std::function<void()>& apply);

    JobState m_state = JobState::Idle;
    QString m_title, m_unit;
    long long m_done = 0, m_total = 0;
    QElapsedTimer m_clock;
    qint64 m_endedMs = -1;
    std::shared_ptr<core::CancelToken> m_cancel;
    QThread* m_thread = nullptr;
};

} // namespace qs::gui

Q_DECLARE_METATYPE(qs::gui::JobState)
