// SPDX-License-Identifier: MIT
#include "command_line.h"

#include "quant/quant_spec.h"

#include <QDir>
#include <QFileInfo>

namespace qs::gui {
namespace {

// A bool parameter `p` is set with --p and cleared with --no-p or its declared negFlag (--asym),
// as in quantscope-cli.
bool isNegation(const core::ParamSpec& spec, const QString& flag) {
    return flag == QStringLiteral("no-") + QString::fromStdString(spec.name) ||
           (!spec.negFlag.empty() && flag == QString::fromStdString(spec.negFlag));
}

QString negationHelp(const core::ParamSpec& spec) {
    return QStringLiteral("--") +
           QString::fromStdString(spec.negFlag.empty() ? "no-" + spec.name : spec.negFlag);
}

} // namespace

nlohmann::json defaultSpecValues() {
    return {{"format", "int4"}, {"granularity", "group"}, {"group", 32}, {"sym", false}};
}

CommandLine parseCommandLine(const QStringList& args) {
    CommandLine cl;
    for (int i = 1; i < args.size(); ++i) {
        const QString& a = args[i];
        if (a == QLatin1String("--headless")) {
            cl.headless = true;
            continue;
        }
        if (a == QLatin1String("--help") || a == QLatin1String("-h")) {
            cl.help = true;
            continue;
        }
        if (a == QLatin1String("--version")) {
            cl.version = true;
            continue;
        }
        if (!a.startsWith(QLatin1String("--"))) {
            if (a.startsWith(QLatin1Char('-')) && a.size() > 1) {
                // Qt's own options (-platform, -style ...) go to QApplication.
                if (i + 1 < args.size() && !args[i + 1].startsWith(QLatin1Char('-'))) ++i;
                continue;
            }
            if (!cl.modelPath.isEmpty()) {
                cl.error = QStringLiteral("more than one model given ('%1' and '%2')").arg(cl.modelPath, a);
                return cl;
            }
            cl.modelPath = a;
            continue;
        }
        QString flag = a.mid(2);
        QString inlineValue;
        bool hasInline = false;
        if (const int eq = flag.indexOf(QLatin1Char('=')); eq >= 0) {
            inlineValue = flag.mid(eq + 1);
            flag = flag.left(eq);
            hasInline = true;
        }
        const auto takeValue = [&](QString* out) {
            if (hasInline) {
                *out = inlineValue;
                return true;
            }
            if (i + 1 >= args.size()) return false;
            *out = args[++i];
            return true;
        };
        if (flag == QLatin1String("method") || flag == QLatin1String("data")) {
            if (!takeValue(flag == QLatin1String("method") ? &cl.method : &cl.dataPath)) {
                cl.error = QStringLiteral("--%1 needs a value").arg(flag);
                return cl;
            }
            continue;
        }
        bool known = false;
        for (const auto& spec : core::quantSpecSchema()) {
            const QString name = QString::fromStdString(spec.name);
            if (spec.type == core::ParamType::Bool) {
                if (flag == name)
                    cl.spec[spec.name] = true;
                else if (isNegation(spec, flag))
                    cl.spec[spec.name] = false;
                else
                    continue;
                known = true;
                break;
            }
            if (flag != name) continue;
            known = true;
            QString value;
            if (!takeValue(&value)) {
                cl.error = QStringLiteral("--%1 needs a value").arg(name);
                return cl;
            }
            try {
                const nlohmann::json v = core::parseParamValue(spec, value.toStdString());
                (void)core::validateParams({spec}, {{spec.name, v}}, "--" + spec.name); // range and choices
                cl.spec[spec.name] = v;
            } catch (const std::exception& e) {
                cl.error = QString::fromStdString(e.what());
                return cl;
            }
            break;
        }
        if (!known) {
            cl.error = QStringLiteral("unknown option '%1' (see --help)").arg(a);
            return cl;
        }
    }
    return cl;
}

QString commandLineHelp() {
    QString s = QStringLiteral(
        "Usage: quantscope [MODEL_DIR] [--headless] [--method M] [options]\n"
        "\n"
        "QuantScope, a workbench for neural-network quantization. Opens MODEL_DIR (a Hugging Face model\n"
        "directory; default: the embedded demo model) in a window. With --headless, or when there is no\n"
        "display, prints the layer table and the result of quantizing with the options below instead.\n"
        "\n"
        "  --headless            no window: print the layer table and quantization result\n"
        "  --method M            quantization method (default rtn)\n"
        "  --data FILE           headless: compare the perplexity of a few recipes on FILE (text or token\n"
        "                        ids); the demo model uses its own sample.txt\n");
    const auto defaults = defaultSpecValues();
    for (const auto& spec : core::quantSpecSchema()) {
        QString flag = QStringLiteral("--") + QString::fromStdString(spec.name);
        if (spec.type == core::ParamType::Bool)
            flag += QStringLiteral("|") + negationHelp(spec);
        else if (spec.type == core::ParamType::Choice)
            flag += QStringLiteral(" ") + QString::fromStdString(spec.name).toUpper().left(1);
        else
            flag += QStringLiteral(" N");
        QString help = QString::fromStdString(spec.help);
        const auto d = defaults.contains(spec.name) ? defaults.at(spec.name) : spec.defaultValue;
        help += QStringLiteral(" (default %1)")
                    .arg(d.is_boolean()
                             ? (d.get<bool>() ? QStringLiteral("on") : QStringLiteral("off"))
                             : QString::fromStdString(d.is_string() ? d.get<std::string>() : d.dump()));
        if (spec.type == core::ParamType::Choice) {
            QStringList choices;
            for (const auto& c : spec.choices)
                choices << QString::fromStdString(c);
            help += QStringLiteral("; one of ") + choices.join(QStringLiteral(", "));
        }
        s += QStringLiteral("  %1 %2\n").arg(flag, -21).arg(help);
    }
    s += QStringLiteral("  --help                this text\n  --version             the version\n");
    return s;
}

bool shouldRunHeadless(const CommandLine& cl) {
    if (cl.headless) return true;
    return qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&
           qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM");
}

QString defaultModelPath(const QString& exeDir) {
    const QStringList candidates{
        QDir::cleanPath(exeDir + QStringLiteral("/../share/quantscope/demo")),
#ifdef QS_DEMO_DIR
        QStringLiteral(QS_DEMO_DIR),
#endif
    };
    for (const QString& c : candidates)
        if (QFileInfo::exists(c + QStringLiteral("/config.json"))) return c;
    return {};
}

QString executableDir(const char* argv0) {
    const QFileInfo self(QStringLiteral("/proc/self/exe"));
    if (self.exists()) return QFileInfo(self.canonicalFilePath()).absolutePath();
    return QFileInfo(QString::fromLocal8Bit(argv0)).absolutePath();
}

} // namespace qs::gui
