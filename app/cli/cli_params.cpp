// SPDX-License-Identifier: MIT
#include "cli_params.h"

#include <sstream>

namespace qs::cli {
namespace {
// Recipe keys are snake_case; their flags use dashes (full_range -> --full-range).
std::string flagName(const std::string& key) {
    std::string s = key;
    for (char& c : s)
        if (c == '_') c = '-';
    return s;
}
} // namespace

nlohmann::json takeSchemaFlags(ArgList& args, const core::ParamSchema& schema) {
    nlohmann::json given = nlohmann::json::object();
    for (const auto& p : schema) {
        if (p.type == core::ParamType::Bool) {
            if (args.takeFlag(flagName(p.name))) given[p.name] = true;
            if (args.takeFlag("no-" + flagName(p.name)) || (!p.negFlag.empty() && args.takeFlag(p.negFlag)))
                given[p.name] = false;
            continue;
        }
        if (auto v = args.takeOption(flagName(p.name))) given[p.name] = core::parseParamValue(p, *v);
    }
    return given;
}

std::string schemaHelp(const core::ParamSchema& schema) {
    std::ostringstream os;
    for (const auto& p : schema) {
        std::string flag = "--" + flagName(p.name);
        if (p.type == core::ParamType::Bool)
            flag += p.negFlag.empty() ? " | --no-" + flagName(p.name) : " | --" + p.negFlag;
        else if (p.type == core::ParamType::Choice)
            flag += " NAME";
        else
            flag += p.type == core::ParamType::Int ? " N" : " X";
        os << "  " << flag << std::string(flag.size() < 26 ? 26 - flag.size() : 1, ' ') << p.help
           << " (default " << p.defaultValue.dump() << ")\n";
        if (!p.choices.empty()) {
            os << std::string(28, ' ') << "one of:";
            for (const auto& c : p.choices) os << ' ' << c;
            os << '\n';
        }
    }
    return os.str();
}

std::string quantizationHelp(const core::Registries& registries) {
    std::string s = "Spec flags:\n" + schemaHelp(core::quantSpecSchema()) + "\nMethods:\n";
    for (const auto* q : registries.quantizers.all()) {
        s += "  " + std::string(q->name()) + ": " + std::string(q->summary()) + "\n";
        s += schemaHelp(q->params());
    }
    return s;
}

} // namespace qs::cli
