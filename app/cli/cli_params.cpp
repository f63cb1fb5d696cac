// SPDX-License-Identifier: MIT
#include "cli_params.h"

#include "transform/transform_pipeline.h"

#include <algorithm>
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

void takeMethodChain(ArgList& args, const std::string& text, const core::Registries& registries, core::QuantJob& job) {
    const core::MethodChain chain = core::parseMethodChain(text, registries.transforms);
    job.method = chain.quantizer;
    const core::ParamSchema& methodSchema = registries.quantizers.get(job.method, "method").params();
    core::ParamSchema all = methodSchema;
    for (const auto& t : chain.transforms)
        for (const auto& p : registries.transforms.get(t, "transform").params())
            if (std::none_of(all.begin(), all.end(), [&](const core::ParamSpec& q) { return q.name == p.name; }))
                all.push_back(p);
    const nlohmann::json given = takeSchemaFlags(args, all);
    auto pick = [&](const core::ParamSchema& schema) {
        nlohmann::json o = nlohmann::json::object();
        for (const auto& p : schema)
            if (given.contains(p.name)) o[p.name] = given[p.name];
        return o;
    };
    job.methodParams = pick(methodSchema);
    job.transforms.clear();
    for (const auto& t : chain.transforms)
        job.transforms.push_back({t, pick(registries.transforms.get(t, "transform").params())});
}

std::string quantizationHelp(const core::Registries& registries) {
    std::string s = "Spec flags:\n" + schemaHelp(core::quantSpecSchema()) + "\nMethods:\n";
    for (const auto* q : registries.quantizers.all()) {
        s += "  " + std::string(q->name()) + ": " + std::string(q->summary()) + "\n";
        s += schemaHelp(q->params());
    }
    s += "\nTransforms (--method T1+...+METHOD, e.g. rotate+gptq, smoothquant+rtn, resq): each transform changes\n"
         "the basis of the decoder Linear inputs (exact without quantization), then METHOD quantizes the\n"
         "transformed weights; a transform alone means T+rtn. Calibrated transforms use --calib. --act-quant\n"
         "and --kv-quant quantize in the new basis. Recipes list them as \"transforms\": [{\"name\", ...}].\n";
    for (const auto* t : registries.transforms.all()) {
        s += "  " + std::string(t->name()) + ": " + std::string(t->summary()) + "\n";
        s += schemaHelp(t->params());
    }
    return s;
}

} // namespace qs::cli
