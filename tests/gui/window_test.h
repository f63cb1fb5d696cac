// SPDX-License-Identifier: MIT
// The fixture of the tests that drive a whole MainWindow offscreen: built-in registries and views,
// default settings, a fresh project file per test, and waits on the job runner.
#pragma once
#include "builtin_views.h"
#include "experiment/builtins.h"
#include "gui_test_support.h"
#include "experiment_controller.h"
#include "jobs_dock.h"
#include "parameters_panel.h"
#include <quantscope/plugin/job_service.h>
#include "main_window.h"
#include <quantscope/plugin/plugin_manager.h>

#include <QDir>
#include <QFile>
#include <QPlainTextEdit>
#include <QSettings>
#include <QTest>
#include <gtest/gtest.h>
#include <memory>

namespace qs::test {

class WindowTest : public ::testing::Test {
protected:
    void SetUp() override {
        ensureApp();
        QSettings().clear(); // every test starts from the default layout
        removeProject(gui::ExperimentController::defaultProjectPath()); // and without runs of an earlier test
        core::registerBuiltins(m_registries);
        addQuantizers(m_registries);
        gui::registerBuiltinViews(m_plugins);
        m_window = std::make_unique<gui::MainWindow>(m_registries, m_plugins);
    }
    void TearDown() override {
        m_window->close();
        m_window.reset();
    }
    /// Registers test-only quantizers before the window reads the registry.
    virtual void addQuantizers(core::Registries&) {}

    /// A project path in this test's output folder with no database, WAL or run arrays left from a
    /// previous run of the test.
    static QString freshProject(const QString& fileName) {
        const QString path = outputDir() + QLatin1Char('/') + fileName;
        removeProject(path);
        return path;
    }
    /// Removes a project file with its WAL, shared memory and run arrays.
    static void removeProject(const QString& path) {
        QFile::remove(path);
        for (const char* suffix : {"-wal", "-shm"})
            QFile::remove(path + QLatin1String(suffix));
        QDir(path + QStringLiteral(".runs")).removeRecursively();
    }
    /// True when the window's job runner went idle within `ms`.
    bool waitIdle(int ms = 300000) {
        return QTest::qWaitFor([&] { return !m_window->jobs()->isRunning(); }, ms);
    }
    /// Opens a model and waits until it is loaded and its inspection job finished.
    void openAndWait(const QString& path) {
        m_window->openModel(path);
        ASSERT_TRUE(QTest::qWaitFor(
            [&] { return m_window->viewContext()->model() && !m_window->jobs()->isRunning(); }, 60000))
            << log();
    }
    std::string log() const { return m_window->jobsDock()->logView()->toPlainText().toStdString(); }

    core::Registries m_registries;
    plugins::PluginManager m_plugins;
    std::unique_ptr<gui::MainWindow> m_window;
};

} // namespace qs::test
