// SPDX-License-Identifier: MIT
// PluginManager: built-ins, the example external .so, and clear errors for files that are not plugins.
#include "builtin_registries.h"
#include "builtin_views.h"
#include "gui_test_support.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QWidget>
#include <gtest/gtest.h>
#include <quantscope/plugin/plugin_manager.h>
#include <quantscope/plugin/view_context.h>

namespace {

using namespace qs;

const QString kPluginDir = QStringLiteral(QS_LIB_DIR "/quantscope/plugins");
const QString kExample = kPluginDir + QStringLiteral("/layer_summary_plugin.so");

TEST(PluginManager, RegistersBuiltins) {
    test::ensureApp();
    plugins::PluginManager pm;
    gui::registerBuiltinViews(pm);
    ASSERT_NE(pm.find(QStringLiteral("layer_table")), nullptr);
    ASSERT_NE(pm.find(QStringLiteral("histogram")), nullptr);
    ASSERT_NE(pm.find(QStringLiteral("formats")), nullptr);
    EXPECT_EQ(pm.find(QStringLiteral("formats"))->area(), plugins::ViewArea::Center);
    EXPECT_EQ(pm.find(QStringLiteral("layer_table"))->area(), plugins::ViewArea::Model);
    EXPECT_EQ(pm.find(QStringLiteral("histogram"))->area(), plugins::ViewArea::Center);
    EXPECT_TRUE(pm.errors().isEmpty());
    // Every built-in makes a view.
    plugins::ViewContext context{test::builtinRegistries()};
    QWidget parent;
    for (auto* p : pm.plugins())
        EXPECT_NE(p->createView(&context, &parent), nullptr) << p->id().toStdString();
}

TEST(PluginManager, LoadsTheExampleExternalPlugin) {
    test::ensureApp();
    plugins::PluginManager pm;
    QString error;
    ASSERT_TRUE(pm.loadFile(kExample, &error)) << error.toStdString();
    plugins::ViewPlugin* plugin = pm.find(QStringLiteral("layer_summary"));
    ASSERT_NE(plugin, nullptr);
    EXPECT_EQ(plugin->title(), QStringLiteral("Layer summary"));
    EXPECT_EQ(pm.entries().front().source, QFileInfo(kExample).absoluteFilePath());

    plugins::ViewContext context{test::builtinRegistries()};
    QWidget parent;
    QWidget* view = plugin->createView(&context, &parent);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->parentWidget(), &parent);

    // Loading it twice is refused by id, with the reason.
    EXPECT_FALSE(pm.loadFile(kExample, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("already registered"))) << error.toStdString();
}

TEST(PluginManager, LoadsADirectoryAndReportsFilesThatAreNotPlugins) {
    test::ensureApp();
    QTemporaryDir dir;
    ASSERT_TRUE(dir.isValid());
    const QString bogus = dir.filePath(QStringLiteral("libnot_a_plugin.so"));
    {
        QFile f(bogus);
        ASSERT_TRUE(f.open(QIODevice::WriteOnly));
        f.write("this is not a shared object\n");
    }
    ASSERT_TRUE(QFile::copy(kExample, dir.filePath(QStringLiteral("layer_summary_plugin.so"))));

    plugins::PluginManager pm;
    EXPECT_EQ(pm.loadDirectory(dir.path()), 1);
    EXPECT_NE(pm.find(QStringLiteral("layer_summary")), nullptr);
    ASSERT_EQ(pm.errors().size(), 1) << pm.errors().join(QLatin1Char('\n')).toStdString();
    EXPECT_TRUE(pm.errors().first().contains(QStringLiteral("libnot_a_plugin.so")));
    EXPECT_TRUE(pm.errors().first().contains(QStringLiteral("not a QuantScope view plugin")))
        << pm.errors().first().toStdString();

    QString error;
    EXPECT_FALSE(pm.loadFile(dir.filePath(QStringLiteral("missing.so")), &error));
    EXPECT_TRUE(error.contains(QStringLiteral("no such file"))) << error.toStdString();
    EXPECT_EQ(pm.loadDirectory(dir.filePath(QStringLiteral("no-such-dir"))), 0);
}

TEST(PluginManager, DefaultDirectoriesIncludeTheEnvironment) {
    qputenv("QUANTSCOPE_PLUGIN_PATH", "/opt/a:/opt/b");
    const QStringList dirs = plugins::PluginManager::defaultDirectories(QStringLiteral("/usr/bin"));
    qunsetenv("QUANTSCOPE_PLUGIN_PATH");
    EXPECT_EQ(dirs, (QStringList{"/usr/lib/quantscope/plugins", "/opt/a", "/opt/b"}));
}

} // namespace
