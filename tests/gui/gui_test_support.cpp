// SPDX-License-Identifier: MIT
#include "gui_test_support.h"

#include <QApplication>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QSettings>
#include <QStandardPaths>
#include <cstdlib>
#include <gtest/gtest.h>

namespace qs::test {

void ensureApp() {
    if (QCoreApplication::instance()) return;
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    // Never destroyed, so the exit handler that removes the directory can still read it.
    static const QString* runtimeDir = [] {
        QByteArray t = (QDir::tempPath() + QStringLiteral("/qs-gui-test-XXXXXX")).toLocal8Bit();
        auto* dir = new QString(QString::fromLocal8Bit(mkdtemp(t.data()))); // mkdtemp makes it 0700
        std::atexit([] { QDir(*runtimeDir).removeRecursively(); });
        return dir;
    }();
    qputenv("XDG_RUNTIME_DIR", runtimeDir->toLocal8Bit());
    // Test mode puts the writable locations (the default project among them) under $HOME/.qttest; a
    // home of its own keeps parallel test processes from sharing one default project.
    qputenv("HOME", runtimeDir->toLocal8Bit());
    QStandardPaths::setTestModeEnabled(true);
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                       *runtimeDir + QStringLiteral("/settings"));
    static int argc = 1;
    static char name[] = "qs_gui_tests";
    static char* argv[] = {name, nullptr};
    auto* app = new QApplication(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("QuantScopeTests"));
    QApplication::setApplicationName(QStringLiteral("qs_gui_tests"));
    (void)app; // lives until the process exits
}

QString fixtureModel() {
    return QStringLiteral(QS_FIXTURES_DIR "/tinyllama-bpe512");
}

QString outputDir() {
    // One folder per test: ctest runs tests in parallel, and two tests of one suite writing the same
    // project file read each other's half-written database.
    QString dir = QStringLiteral(QS_TEST_OUTPUT_DIR "/gui");
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
        dir += QLatin1Char('/') + QString::fromLatin1(info->test_suite_name()) + QLatin1Char('.') +
               QString::fromLatin1(info->name());
    QDir().mkpath(dir);
    return dir;
}

QByteArray readFile(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace qs::test
