// SPDX-License-Identifier: MIT
#include "jobs_dock.h"

#include <QGridLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStyle>
#include <QTime>
#include <QTimer>

namespace qs::gui {

using plugins::JobState;
using plugins::LogLevel;

JobsDock::JobsDock(plugins::JobService* jobs, QWidget* parent)
    : QDockWidget(tr("Jobs"), parent), m_jobs(jobs), m_timer(new QTimer(this)) {
    setObjectName(QStringLiteral("jobsDock"));
    auto* job = new QWidget;
    auto* grid = new QGridLayout(job);
    m_progress = new QProgressBar(job);
    m_progress->setObjectName(QStringLiteral("jobProgress"));
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setTextVisible(true);
    m_cancel = new QPushButton(style()->standardIcon(QStyle::SP_BrowserStop), tr("Cancel"), job);
    m_cancel->setObjectName(QStringLiteral("cancelButton"));
    m_cancel->setEnabled(false);
    m_status = new QLabel(job);
    m_status->setObjectName(QStringLiteral("jobStatus"));
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status->setWordWrap(true);
    grid->addWidget(m_progress, 0, 0);
    grid->addWidget(m_cancel, 0, 1);
    grid->addWidget(m_status, 1, 0, 1, 2);
    grid->setRowStretch(2, 1);
    grid->setColumnStretch(0, 1);
    m_log = new QPlainTextEdit;
    m_log->setObjectName(QStringLiteral("jobLog"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setPlaceholderText(tr("Warnings and errors of jobs appear here."));
    m_splitter = new QSplitter(Qt::Horizontal);
    m_splitter->setObjectName(QStringLiteral("jobsSplitter"));
    m_splitter->addWidget(job);
    m_splitter->addWidget(m_log);
    m_splitter->setStretchFactor(0, 2);
    m_splitter->setStretchFactor(1, 3);
    setWidget(m_splitter);

    m_timer->setInterval(500);
    connect(m_timer, &QTimer::timeout, this, &JobsDock::updateStatus);
    connect(m_cancel, &QPushButton::clicked, m_jobs, [this] {
        m_jobs->cancel();
        updateStatus();
    });
    connect(m_jobs, &plugins::JobService::started, this, &JobsDock::onStarted);
    connect(m_jobs, &plugins::JobService::progress, this, &JobsDock::onProgress);
    connect(m_jobs, &plugins::JobService::finished, this, &JobsDock::onFinished);
    connect(m_jobs, &plugins::JobService::logged, this, &JobsDock::appendLog);
    connect(m_jobs, &plugins::JobService::reported, this, [this](const QString& summary) {
        m_reported = true;
        m_status->setText(summary);
    });
    updateStatus();
}

void JobsDock::onStarted() {
    m_message.clear();
    m_reported = false;
    m_progress->setRange(0, 0); // busy until the first step says how many there are
    m_cancel->setEnabled(true);
    m_timer->start();
    updateStatus();
}

void JobsDock::onProgress(long long done, long long total, const QString& message) {
    if (total > 0) {
        const int scale = total > 1'000'000 ? static_cast<int>(total / 1'000'000 + 1) : 1;
        m_progress->setRange(0, static_cast<int>(total / scale));
        m_progress->setValue(static_cast<int>(done / scale));
    }
    m_message = message;
    updateStatus();
}

void JobsDock::onFinished(JobState state) {
    m_timer->stop();
    m_cancel->setEnabled(false);
    m_progress->setRange(0, 1);
    m_progress->setValue(state == JobState::Succeeded ? 1 : 0);
    const QString seconds = QString::number(m_jobs->elapsedSeconds(), 'f', 1);
    if (state != JobState::Succeeded)
        m_status->setText(m_jobs->stopText());
    else if (!m_reported)
        m_status->setText(tr("%1 finished in %2 s").arg(m_jobs->what(), seconds));
}

void JobsDock::updateStatus() {
    if (m_jobs->isRunning()) {
        QString s = m_jobs->statusText();
        if (m_jobs->isCancelRequested())
            s += tr(" · cancelling…");
        else if (!m_message.isEmpty())
            s += QStringLiteral(" — ") + m_message;
        m_status->setText(s);
    } else if (m_jobs->state() == JobState::Idle) {
        m_status->setText(tr("Ready"));
    }
}

void JobsDock::appendLog(LogLevel level, const QString& text) {
    static const char* const names[] = {"info", "warning", "error"};
    static const char* const colours[] = {"#404040", "#9a6700", "#b00020"};
    const int i = static_cast<int>(level);
    const QString line = QStringLiteral("%1  %2  %3")
                             .arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss")),
                                  QString::fromLatin1(names[i]).leftJustified(7), text);
    m_log->appendHtml(QStringLiteral("<span style='color:%1; white-space:pre'>%2</span>")
                          .arg(QLatin1String(colours[i]), line.toHtmlEscaped()));
}

} // namespace qs::gui
