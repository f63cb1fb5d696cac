// SPDX-License-Identifier: MIT
// quantscope: the workbench window, or with --headless (or no display) a text report on stdout.
#include "builtin_views.h"
#include "command_line.h"
#include "headless.h"
#include "main_window.h"
#include "common/param_form.h"
#include "parameters_panel.h"
#include "base/process.h"

#include <QApplication>
#include <QStringList>
#include <iostream>

int main(int argc, char** argv) {
    qs::core::configureProcess(argv);
    QStringList args;
    for (int i = 0; i < argc; ++i)
        args << QString::fromLocal8Bit(argv[i]);
    const qs::gui::CommandLine cl = qs::gui::parseCommandLine(args);
    if (cl.help) {
        std::cout << qs::gui::commandLineHelp().toStdString();
        return 0;
    }
    if (cl.version) {
        std::cout << "quantscope " << QS_VERSION << '\n';
        return 0;
    }
    if (!cl.error.isEmpty()) {
        std::cerr << "quantscope: " << cl.error.toStdString() << '\n';
        return 2;
    }

    qs::core::Registries registries;
    qs::core::registerBuiltins(registries);
    const QString exeDir = qs::gui::executableDir(argv[0]);
    if (qs::gui::shouldRunHeadless(cl))
        return qs::gui::runHeadless(cl, registries, exeDir, std::cout, std::cerr);

    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("QuantScope"));
    QApplication::setApplicationName(QStringLiteral("QuantScope"));
    QApplication::setApplicationVersion(QStringLiteral(QS_VERSION));

    qs::plugins::PluginManager plugins;
    qs::gui::registerBuiltinViews(plugins);
    qs::gui::loadExternalViews(plugins, exeDir);

    qs::gui::MainWindow window(registries, plugins);
    for (const auto& [key, value] : cl.spec.items())
        window.parameters()->specForm()->setValue(QString::fromStdString(key), value);
    if (!window.parameters()->setMethod(cl.method))
        window.jobs()->log(qs::plugins::LogLevel::Error, QStringLiteral("unknown method '%1'").arg(cl.method));
    window.show();

    const QString model = cl.modelPath.isEmpty() ? qs::gui::defaultModelPath(exeDir) : cl.modelPath;
    if (!model.isEmpty())
        window.openModel(model);
    else
        window.jobs()->log(qs::plugins::LogLevel::Warning,
                           QStringLiteral("No demo model found; open one with File ▸ Open model…"));
    return QApplication::exec();
}
