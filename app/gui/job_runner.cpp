// SPDX-License-Identifier: MIT
#include "job_runner.h"

#include "base/error.h"

#include <QThread>
#include <cmath>
#include <exception>

namespace qs::gui {

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

JobRunner::JobRunner(QObject* parent) : QObject(parent) {
    qRegisterMetaType<JobState>();
}

JobRunner::~JobRunner() {
    if (m_cancel) m_cancel->cancel();
    if (m_thread) {
        m_thread->wait();
        delete m_thread;
    }
}

bool JobRunner::start(const QString& title, const QString& unit, Work work) {
    if (isRunning()) return false;
    if (m_thread) { // the previous job's thread has ended (finished() was delivered)
        m_thread->wait();
        delete m_thread;
        m_thread = nullptr;
    }
    m_state = JobState::Running;
    m_title = title;
    m_unit = unit;
    m_done = 0;
    m_total = 0;
    m_endedMs = -1;
    m_clock.start();
    m_cancel = std::make_shared<core::CancelToken>();

    // The destructor waits for the thread, so `this` outlives it; events queued to a destroyed
    // runner are dropped by Qt.
    auto cancel = m_cancel;
    m_thread = QThread::create([this, cancel, work = std::move(work)] {
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
    emit started(title);
    return true;
}

void JobRunner::cancel() {
    if (isRunning() && m_cancel) m_cancel->cancel();
}

bool JobRunner::isCancelRequested() const {
    return isRunning() && m_cancel && m_cancel->isCancelled();
}

double JobRunner::elapsedSeconds() const {
    if (!m_clock.isValid()) return 0;
    return static_cast<double>(m_endedMs >= 0 ? m_endedMs : m_clock.elapsed()) / 1000.0;
}

std::optional<double> JobRunner::secondsLeft() const {
    const double elapsed = elapsedSeconds();
    if (!isRunning() || m_done <= 0 || m_total <= 0 || elapsed < 0.5) return std::nullopt;
    return elapsed * static_cast<double>(m_total - m_done) / static_cast<double>(m_done);
}

QString JobRunner::statusText() const {
    return formatJobStatus(m_title, m_unit, m_done, m_total, secondsLeft());
}

bool JobRunner::waitForThread(int msecs) {
    return !m_thread || m_thread->wait(QDeadlineTimer(msecs));
}

void JobRunner::onProgress(long long done, long long total, const QString& message) {
    if (!isRunning()) return;
    m_done = done;
    m_total = total;
    emit progress(done, total, message);
}

void JobRunner::onDone(JobState state, QString message, const std::function<void()>& apply) {
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
    emit finished(state, message);
}

} // namespace qs::gui
