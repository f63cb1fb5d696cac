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

namespace qs::plugins {

/// How the last job ended (or that one is running).
enum class JobState { Idle, Running, Succeeded, Cancelled, Failed };

/// Severity of a log line.
enum class LogLevel { Info, Warning, Error };

/// "idle", "running", "succeeded", "cancelled", "failed".
QString jobStateName(JobState state);

/// "RTN layer 12/28 · 00:41 left" (the time part only when `secondsLeft` is known).
QString formatJobStatus(const QString& title, const QString& unit, long long done, long long total,
                        std::optional<double> secondsLeft);

/// Where long work runs: the window, its controllers and the views all start their engine work here,
/// one job at a time on a worker thread, and the Jobs dock shows it (progress, status, cancel, log).
/// Wraps core::JobContext: progress arrives as queued signals in the GUI thread, cancel() sets the
/// CancelToken. core::Cancelled ends a job as Cancelled (not an error); any other exception ends it as
/// Failed with its message. What every job says when it stops short (cancelled after N s, the error) is
/// logged here; what it says when it succeeds is its own OnEnd's business.
class JobService : public QObject {
    Q_OBJECT
public:
    /// The job body: runs on the worker thread and returns what to do with its result on the GUI
    /// thread (called before the job's OnEnd when it succeeds; may be empty).
    using Work = std::function<std::function<void()>(const core::JobContext&)>;
    /// Called on the GUI thread when the job ends in any state, before finished(); `seconds` is its
    /// run time ("12.3").
    using OnEnd = std::function<void(JobState state, const QString& seconds)>;
    /// A job: `what` names it in messages ("Evaluate RTN int4 g128"), `title` and `unit` in its
    /// status line ("RTN layer 3/28").
    struct Job {
        QString what;
        QString title;
        QString unit;
        Work work;
        OnEnd onEnd;
    };

    /// An idle service.
    explicit JobService(QObject* parent = nullptr);
    /// Cancels a running job and waits for its thread.
    ~JobService() override;

    /// Starts `job`. Returns false (and does nothing) while another job runs.
    bool start(Job job);
    /// Asks the running job to stop (returns at once; finished() follows).
    void cancel();
    /// True between start() and finished().
    bool isRunning() const { return m_state == JobState::Running; }
    /// State of the current or last job.
    JobState state() const { return m_state; }
    /// True when the running job was asked to stop.
    bool isCancelRequested() const;
    /// `what` and `title` of the current or last job.
    const QString& what() const { return m_what; }
    const QString& title() const { return m_title; }
    /// Why the last job failed (the exception's message), empty unless it ended as Failed; set before its
    /// OnEnd runs, so an end handler can show it where its view wants it.
    const QString& error() const { return m_error; }
    /// How the last job stopped short, in one line ("Evaluate … cancelled", "Evaluate … failed: why"); empty
    /// when it succeeded or runs.
    QString stopText() const;
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

    /// Adds a line to the log; emits logged().
    void log(LogLevel level, const QString& text);
    /// Logs `summary` and makes it the outcome line of the job that just ended; emits reported().
    void report(const QString& summary);

signals:
    /// A job started.
    void started(const QString& title);
    /// Progress of the running job (`message` from the engine, e.g. "rtn model.layers.3.mlp.up_proj").
    void progress(long long done, long long total, const QString& message);
    /// The job ended and its OnEnd ran; `message` is the error for Failed, empty otherwise.
    void finished(qs::plugins::JobState state, const QString& message);
    /// A line was logged.
    void logged(qs::plugins::LogLevel level, const QString& text);
    /// A job's outcome line (see report()).
    void reported(const QString& summary);

private:
    void onProgress(long long done, long long total, const QString& message);
    void onDone(JobState state, QString message, const std::function<void()>& apply);

    JobState m_state = JobState::Idle;
    QString m_what, m_title, m_unit, m_error;
    OnEnd m_onEnd;
    long long m_done = 0, m_total = 0;
    QElapsedTimer m_clock;
    qint64 m_endedMs = -1;
    std::shared_ptr<core::CancelToken> m_cancel;
    QThread* m_thread = nullptr;
};

} // namespace qs::plugins

Q_DECLARE_METATYPE(qs::plugins::JobState)
Q_DECLARE_METATYPE(qs::plugins::LogLevel)
