// SPDX-License-Identifier: MIT
#include "quantscope/plugin/job_service.h"

#include "base/error.h"

#include <QThread>
#include <cmath>
#include <exception>
#include <utility>

namespace qs::plugins {

QString jobStateName(JobState state) {
    switch (state) {
    case JobState::Idle:
        return QStringLiteral("idle");
    case JobState::Running:
        return QStringLiteral("running");
    case JobState::Succeeded:
        return QStringLiteral("succeeded");
    case JobState::Cancelled:
        return QStringLiteral("cancelled");
    case JobState::Failed:
        return QStringLiteral("failed");
    }
    return {};
}

QString formatJobStatus(const QString& title, const QString& unit, long long done, long long total,
                        std::optional<double> secondsLeft) {
    // The engine reports step(i, total) before working on item i: item i+1 of total is under way.
    QString s = title;
    if (total > 0) s += QStringLiteral(" %1 %2/%3").arg(unit).arg(std::min(done + 1, total)).arg(total);
    if (secondsLeft) {
        const auto secs = static_cast<long long>(std::llround(*secondsLeft));
        s += QStringLiteral(" · %1:%2 left")
                 .arg(secs / 60, 2, 10, QLatin1Char('0'))
                 .arg(secs % 60, 2, 10, QLatin1Char('0'));
    }
    return s;
}

JobService::JobService(QObject* parent) : QObject(parent) {
    qRegisterMetaType<JobState>();
    qRegisterMetaType<LogLevel>();
}

JobService::~JobService() {
    if (m_cancel) m_cancel->cancel();
    if (m_thread) {
        m_thread->wait();
        delete m_thread;
    }
}

bool JobService::start(Job job) {
    if (isRunning()) return false;
    if (m_thread) { // the previous job's thread has ended (finished() was delivered)
        m_thread->wait();
        delete m_thread;
        m_thread = nullptr;
    }
    m_state = JobState::Running;
    m_what = job.what.isEmpty() ? job.title : job.what;
    m_title = job.title;
    m_unit = job.unit;
    m_onEnd = std::move(job.onEnd);
    m_done = 0;
    m_total = 0;
    m_endedMs = -1;
    m_clock.start();
    m_cancel = std::make_shared<core::CancelToken>();

    // The destructor waits for the thread, so `this` outlives it; events queued to a destroyed
    // runner are dropped by Qt.
    auto cancel = m_cancel;
    m_thread = QThread::create([this, cancel, work = std::move(job.work)] {
        core::JobContext ctx;
        ctx.cancel = cancel.get();
        ctx.progress = [this](long long done, long long total, const std::string& message) {
            QMetaObject::invokeMethod(
                this,
                [this, done, total, msg = QString::fromStdString(message)] { onProgress(done, total, msg); },
                Qt::QueuedConnection);
        };
        JobState state = JobState::Succeeded;
        QString error;
        std::function<void()> apply;
        try {
            apply = work(ctx);
        } catch (const core::Cancelled&) {
            state = JobState::Cancelled;
        } catch (const std::exception& e) {
            state = JobState::Failed;
            error = QString::fromStdString(e.what());
        } catch (...) {
            state = JobState::Failed;
            error = QStringLiteral("unknown error");
        }
        QMetaObject::invokeMethod(
            this, [this, state, error, apply] { onDone(state, error, apply); }, Qt::QueuedConnection);
    });
    m_thread->setObjectName(QStringLiteral("qs-job"));
    m_thread->start(QThread::LowPriority);
    emit started(m_title);
    return true;
}

void JobService::cancel() {
    if (isRunning() && m_cancel) m_cancel->cancel();
}

bool JobService::isCancelRequested() const {
    return isRunning() && m_cancel && m_cancel->isCancelled();
}

double JobService::elapsedSeconds() const {
    if (!m_clock.isValid()) return 0;
    return static_cast<double>(m_endedMs >= 0 ? m_endedMs : m_clock.elapsed()) / 1000.0;
}

std::optional<double> JobService::secondsLeft() const {
    const double elapsed = elapsedSeconds();
    if (!isRunning() || m_done <= 0 || m_total <= 0 || elapsed < 0.5) return std::nullopt;
    return elapsed * static_cast<double>(m_total - m_done) / static_cast<double>(m_done);
}

QString JobService::statusText() const {
    return formatJobStatus(m_title, m_unit, m_done, m_total, secondsLeft());
}

bool JobService::waitForThread(int msecs) {
    return !m_thread || m_thread->wait(QDeadlineTimer(msecs));
}

void JobService::onProgress(long long done, long long total, const QString& message) {
    if (!isRunning()) return;
    m_done = done;
    m_total = total;
    emit progress(done, total, message);
}

void JobService::onDone(JobState state, QString message, const std::function<void()>& apply) {
    m_endedMs = m_clock.elapsed();
    if (state == JobState::Succeeded && apply) {
        try {
            apply();
        } catch (const std::exception& e) {
            state = JobState::Failed;
            message = QString::fromStdString(e.what());
        }
    }
    m_state = state;
    m_error = state == JobState::Failed ? message : QString();
    const QString seconds = QString::number(elapsedSeconds(), 'f', 1);
    if (state == JobState::Cancelled)
        log(LogLevel::Info, tr("%1 cancelled after %2 s").arg(m_what, seconds));
    else if (state == JobState::Failed)
        log(LogLevel::Error, stopText());
    if (const OnEnd onEnd = std::exchange(m_onEnd, {})) onEnd(state, seconds);
    emit finished(state, message);
}

QString JobService::stopText() const {
    if (m_state == JobState::Cancelled) return tr("%1 cancelled").arg(m_what);
    if (m_state == JobState::Failed) return tr("%1 failed: %2").arg(m_what, m_error);
    return {};
}

void JobService::log(LogLevel level, const QString& text) {
    emit logged(level, text);
}

void JobService::report(const QString& summary) {
    log(LogLevel::Info, summary);
    emit reported(summary);
}

} // namespace qs::plugins
