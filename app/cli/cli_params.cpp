// SPDX-License-Identifier: MIT
#include "cli_params.h"

#include "transform/transform_pipeline.h"

#include <algorithm>
#include <sstream>

namespace qs::cli {
nlohmann::json takeSchemaFlags(ArgList& args, const core::ParamSchema& schema) {
    nlohmann::json given = nlohmann::json::object();
    for (const auto& p : schema) {
        if (p.type == core::ParamType::Bool) {
            if (args.takeFlag(core::flagSpelling(p.name))) given[p.name] = true;
            if (args.takeFlag("no-" + core::flagSpelling(p.name)) || (!p.negFlag.empty() && args.takeFlag(p.negFlag)))
                given[p.name] = false;
            continue;
        }
        if (auto v = args.takeOption(core::flagSpelling(p.name))) given[p.name] = core::parseParamValue(p, *v);
    }
    return given;
}

core::ParamSchema schemaSubset(const core::ParamSchema& schema, const std::vector<std::string>& names) {
    core::ParamSchema out;
    for (const auto& p : schema)
        if (std::find(names.begin(), names.end(), p.name) != names.end()) out.push_back(p);
    return out;
}

std::string schemaHelp(const core::ParamSchema& schema) {
    std::ostringstream os;
    for (const auto& p : schema) {
        std::string flag = "--" + core::flagSpelling(p.name);
        if (p.type == core::ParamType::Bool)
            flag += p.negFlag.empty() ? " | --no-" + core::flagSpelling(p.name) : " | --" + p.negFlag;
        else if (p.type == core::ParamType::Choice)
            flag += " NAME";
        else if (p.type == core::ParamType::Text)
            flag += " TEXT";
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

core::Recipe takeRecipe(ArgList& args, const core::Registries& registries, const std::string& command, bool hooks) {
    // Flat keys for core::recipeFromFlatKeys, the gate sweeps and the GUI use too.
    nlohmann::json flat = takeSchemaFlags(args, core::quantSpecSchema());
    const auto method = args.takeOption("method");
    core::QuantJob chain; // only to take the flags the chain's method and transforms declare
    takeMethodChain(args, method.value_or("rtn"), registries, chain);
    const bool params = !chain.methodParams.empty() ||
                        std::any_of(chain.transforms.begin(), chain.transforms.end(),
                                    [](const core::TransformStep& t) { return !t.params.empty(); });
    if (method || params) flat["method"] = method.value_or("rtn");
    flat.update(chain.methodParams);
    for (const auto& t : chain.transforms) flat.update(t.params);
    if (hooks) {
        if (const auto a = args.takeOption("act-quant")) flat["act_quant"] = *a;
        if (const auto k = args.takeOption("kv-quant")) flat["kv_quant"] = *k;
    }
    nlohmann::json rules = nlohmann::json::array();
    while (const auto rule = args.takeOption("layer")) rules.push_back(*rule);
    const auto file = args.takeOption("recipe");
    if (!file) {
        if (!rules.empty()) flat["layer"] = rules;
        return core::recipeFromFlatKeys(flat, registries, command);
    }
    if (!flat.empty())
        throw core::Error(command + ": --recipe replaces --method, the spec flags" +
                          (hooks ? ", --act-quant and --kv-quant" : "") + ": give one or the other");
    nlohmann::json j = core::loadRecipeJson(*file);
    if (!rules.empty()) {
        if (!j.contains("method") && !j.contains("format"))
            throw core::Error(command + ": --layer rules refine a weight recipe; " + *file + " quantizes no weights");
        for (const auto& r : rules) j["layers"].push_back(core::layerRuleJsonFromFlag(r.get<std::string>()));
    }
    return core::recipeFromJson(j, registries, *file);
}

std::string quantizationHelp(const core::Registries& registries) {
    std::string s = "Spec flags:\n" + schemaHelp(core::quantSpecSchema()) +
                    "  --layer GLOB=SPEC         a per-layer rule (repeatable, later rules win): the weights whose\n"
                    "                            name without .weight matches GLOB get SPEC = keep (unquantized) or\n"
                    "                            FORMAT[:tensor|channel|group|block][:N][:sym|asym][:pNN.N]; unnamed\n"
                    "                            fields follow the default, e.g. --layer '*.mlp.down_proj=int8:channel'\n"
                    "  --recipe R.json           a recipe file (export --as recipe; \"layers\" rules per weight)\n"
                    "\nMethods:\n";
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
