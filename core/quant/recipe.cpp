// SPDX-License-Identifier: MIT
#include "quant/recipe.h"

#include "io/file_util.h"
#include "transform/transform_pipeline.h"
#include "base/error.h"

#include <charconv>
#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

namespace qs::core {
namespace {

const std::set<std::string>& weightKeys() {
    static const std::set<std::string> keys = [] {
        std::set<std::string> k{"method", "method_params", "transforms", "layers"};
        for (const auto& p : quantSpecSchema()) k.insert(p.name);
        return k;
    }();
    return keys;
}

// Whether `key` is a parameter of some registered method or transform.
bool isRegisteredParam(const std::string& key, const MethodRegistries& registries) {
    for (const auto* q : registries.quantizers.all())
        for (const auto& p : q->params())
            if (p.name == key) return true;
    for (const auto* t : registries.transforms.all())
        for (const auto& p : t->params())
            if (p.name == key) return true;
    return false;
}

QuantSpec specFromJson(const nlohmann::json& j, const std::string& owner) {
    try {
        return QuantSpec::fromJson(j);
    } catch (const Error& e) {
        throw Error(owner + ": " + e.what());
    }
}

// One entry of "layers", resolved against the job's default (fixtures/README.md, reference_mixed.json:
// the rule's unnamed fields are the default's).
LayerRule layerRuleFromJson(const nlohmann::json& r, const QuantJob& job, const MethodRegistries& registries,
                            const std::string& owner) {
    if (!r.is_object() || !r.contains("match") || !r["match"].is_string() || r["match"].get<std::string>().empty())
        throw Error(owner + ": a layer rule is an object with a \"match\" glob, e.g. {\"match\": \"*.mlp.down_proj\", "
                            "\"format\": \"int8\"} or {\"match\": \"model.layers.0.*\", \"keep\": true}");
    LayerRule rule;
    rule.match = r["match"].get<std::string>();
    const std::string where = owner + " (match '" + rule.match + "')";
    nlohmann::json named = nlohmann::json::object();
    for (const auto& [k, v] : r.items()) {
        if (k == "match") continue;
        if (k == "keep") {
            if (!v.is_boolean()) throw Error(where + ": \"keep\" must be true or false");
            rule.assignment.keep = v.get<bool>();
        } else if (k == "transforms") {
            throw Error(where + ": transforms act on the whole model; name them in the recipe's default, not in a rule");
        } else if (weightKeys().count(k) && k != "layers") { // method, method_params and the spec keys
            named[k] = v;
        } else {
            throw Error(where + ": unknown key \"" + k + "\" (valid: match, keep, method, method_params, format, "
                        "granularity, group, sym, scale, percentile, full_range)");
        }
    }
    if (rule.assignment.keep) {
        if (!named.empty())
            throw Error(where + ": \"keep\": true leaves the weight unquantized; it takes no \"" + named.begin().key() + "\"");
        return rule;
    }
    WeightAssignment& a = rule.assignment;
    a.method = job.method;
    if (named.contains("method")) {
        if (!named["method"].is_string()) throw Error(where + ": \"method\" must be a string");
        a.method = named["method"].get<std::string>();
        if (!registries.quantizers.find(a.method))
            throw Error(where + ": unknown method '" + a.method + "'" +
                        (registries.transforms.find(a.method) || a.method.find('+') != std::string::npos
                             ? " (transforms act on the whole model; name them in the recipe's default)"
                             : ""));
    }
    // The same method keeps the default's parameters; another starts from its own defaults.
    nlohmann::json params = a.method == job.method ? job.methodParams : nlohmann::json::object();
    if (named.contains("method_params")) {
        if (!named["method_params"].is_object()) throw Error(where + ": \"method_params\" must be an object");
        params.update(named["method_params"]);
    }
    try {
        a.methodParams = validateParams(registries.quantizers.get(a.method, "method").params(), params, "method " + a.method);
    } catch (const Error& e) {
        throw Error(where + ": " + e.what());
    }
    nlohmann::json spec = normalizedSpec(job.spec).toJson();
    for (const auto& [k, v] : named.items())
        if (k != "method" && k != "method_params") spec[k] = v;
    if (named.contains("format") && named["format"].is_string())
        if (const FormatTraits* f = findFormat(named["format"].get<std::string>())) {
            // A field the rule does not name and the format cannot take follows the format.
            if (!named.contains("sym") && !f->allowsAsymmetric) spec["sym"] = true;
            if (!named.contains("full_range") && f->kind != FormatKind::Integer) spec["full_range"] = false;
            if (!named.contains("granularity") && !f->fixedBlock && spec["granularity"] == "block") spec["granularity"] = "group";
        }
    a.spec = specFromJson(spec, where);
    return rule;
}

} // namespace

nlohmann::json Recipe::toJson() const {
    nlohmann::json j = nlohmann::json::object();
    if (quantizeWeights) {
        QuantJob n = job;
        n.spec = normalizedSpec(job.spec);
        j = n.toJson();
    }
    if (activation) j["activation"] = normalizedSpec(*activation).toJson();
    if (kvCache) j["kv_cache"] = normalizedSpec(*kvCache).toJson();
    return j;
}

std::string Recipe::label() const {
    if (isReference()) return "fp32";
    std::string s;
    if (quantizeWeights) {
        for (const auto& t : job.transforms) s += t.name + "+";
        s += job.method + " " + job.spec.label();
        for (const auto& r : effectiveRules(job.defaults(), job.layers)) s += "; " + r.match + ": " + r.assignment.label();
    }
    if (activation) s += std::string(s.empty() ? "" : " + ") + "act " + activation->label();
    if (kvCache) s += std::string(s.empty() ? "" : " + ") + "kv " + kvCache->label();
    return s;
}

namespace {

// QuantJob from the weight part of a recipe JSON (QuantJob::toJson() shape); method params validated
// with defaults filled. Keys it does not know are skipped, so only recipeFromJson, which refuses
// unknown keys first, may call it: a stray top-level "steps" would otherwise be silently ignored.
QuantJob quantJobFromJson(const nlohmann::json& j, const MethodRegistries& registries, const std::string& owner) {
    if (!j.is_object()) throw Error(owner + ": a recipe is a JSON object");
    QuantJob job;
    nlohmann::json spec = nlohmann::json::object();
    for (const auto& [k, v] : j.items()) {
        if (k == "method") {
            if (!v.is_string()) throw Error(owner + ": \"method\" must be a string");
            job.method = v.get<std::string>();
        } else if (k == "method_params") {
            if (!v.is_object()) throw Error(owner + ": \"method_params\" must be an object");
            job.methodParams = v;
        } else if (k == "transforms") {
            if (!v.is_array()) throw Error(owner + ": \"transforms\" must be a list of {\"name\": ..., params}");
            for (const auto& t : v) {
                if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
                    throw Error(owner + ": each transform is an object with a \"name\"");
                nlohmann::json params = t;
                params.erase("name");
                job.transforms.push_back({t["name"].get<std::string>(), params});
            }
        } else if (k == "layers") {
            if (!v.is_array()) throw Error(owner + ": \"layers\" must be a list of rules");
        } else if (weightKeys().count(k)) {
            spec[k] = v;
        }
    }
    // "rotate+gptq" (the CLI's chain spelling) = transforms before the weight method.
    if (job.method.find('+') != std::string::npos || registries.transforms.find(job.method)) {
        try {
            const MethodChain chain = parseMethodChain(job.method, registries.transforms);
            job.method = chain.quantizer;
            std::vector<TransformStep> steps;
            for (const auto& name : chain.transforms) steps.push_back({name, nlohmann::json::object()});
            job.transforms.insert(job.transforms.begin(), steps.begin(), steps.end());
        } catch (const Error& e) {
            throw Error(owner + ": " + e.what());
        }
    }
    for (auto& t : job.transforms) {
        try {
            t.params = validateParams(registries.transforms.get(t.name, "transform").params(), t.params,
                                      "transform " + t.name);
        } catch (const Error& e) {
            throw Error(owner + ": " + e.what());
        }
    }
    const Quantizer* q = registries.quantizers.find(job.method);
    if (!q) {
        std::string names;
        for (const auto* e : registries.quantizers.all()) names += (names.empty() ? "" : ", ") + std::string(e->name());
        throw Error(owner + ": unknown method '" + job.method + "' (known: " + names + ")");
    }
    job.spec = specFromJson(spec, owner);
    try {
        job.methodParams = validateParams(q->params(), job.methodParams, "method " + job.method);
    } catch (const Error& e) {
        throw Error(owner + ": " + e.what());
    }
    if (j.contains("layers"))
        for (std::size_t i = 0; i < j["layers"].size(); ++i)
            job.layers.push_back(
                layerRuleFromJson(j["layers"][i], job, registries, owner + ": layers[" + std::to_string(i) + "]"));
    return job;
}

} // namespace

Recipe recipeFromJson(const nlohmann::json& j, const MethodRegistries& registries, const std::string& owner) {
    if (!j.is_object()) throw Error(owner + ": a recipe is a JSON object");
    Recipe r;
    for (const auto& [k, v] : j.items()) {
        if (k == "activation" || k == "kv_cache") continue;
        if (!weightKeys().count(k)) {
            std::string valid;
            for (const auto& w : weightKeys()) valid += w + ", ";
            throw Error(owner + ": unknown key \"" + k + "\" (valid: " + valid + "activation, kv_cache)");
        }
        r.quantizeWeights = true;
    }
    if (r.quantizeWeights) r.job = quantJobFromJson(j, registries, owner);
    if (j.contains("activation")) r.activation = specFromJson(j.at("activation"), owner + ": activation");
    if (j.contains("kv_cache")) r.kvCache = specFromJson(j.at("kv_cache"), owner + ": kv_cache");
    return r;
}

nlohmann::json loadRecipeJson(const std::filesystem::path& path) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(readWholeFile(path));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": not valid JSON: " + e.what());
    }
    return j;
}

Recipe loadRecipeFile(const std::filesystem::path& path, const MethodRegistries& registries) {
    return recipeFromJson(loadRecipeJson(path), registries, path.string());
}

void saveRecipeFile(const std::filesystem::path& path, const Recipe& recipe) {
    writeFileAtomically(path, recipe.toJson().dump(2) + "\n");
}

QuantSpec hookSpecFromString(const std::string& text, const std::string& flag, Granularity defaultGranularity) {
    nlohmann::json j = specKeysFromString(text, flag + " " + text);
    if (!j.contains("granularity")) j["granularity"] = std::string(granularityName(defaultGranularity));
    return specFromJson(j, flag + " " + text);
}

std::string hookSpecText(const QuantSpec& spec) {
    std::string s(formatTraits(spec.format).name);
    s += ":" + std::string(granularityName(spec.granularity));
    if (spec.granularity == Granularity::Group) s += ":" + std::to_string(spec.groupSize);
    s += spec.symmetric ? ":sym" : ":asym";
    if (spec.scaleRule == ScaleRule::Percentile) {
        char buf[32];
        const auto end = std::to_chars(buf, buf + sizeof buf, spec.percentile).ptr; // shortest round trip
        s += ":p" + std::string(buf, end);
    }
    return s;
}

Recipe recipeFromFlatKeys(const nlohmann::json& values, const MethodRegistries& registries, const std::string& owner) {
    nlohmann::json r = nlohmann::json::object();
    std::set<std::string> specKeys;
    for (const auto& p : quantSpecSchema()) specKeys.insert(p.name);
    // "rotate+gptq": transforms, then the weight method (the CLI's --method chain).
    if (values.contains("method") && !values.at("method").is_string())
        throw Error(owner + ": method: expected a string like \"gptq\" or \"rotate+rtn\"");
    MethodChain chain;
    try {
        chain = parseMethodChain(values.contains("method") ? values.at("method").get<std::string>() : "rtn",
                                 registries.transforms);
    } catch (const Error& e) {
        throw Error(owner + ": " + e.what());
    }
    const Quantizer* q = registries.quantizers.find(chain.quantizer);
    if (!q) throw Error(owner + ": unknown method '" + chain.quantizer + "'");
    nlohmann::json transforms = nlohmann::json::array();
    for (const auto& name : chain.transforms) transforms.push_back({{"name", name}});
    nlohmann::json methodParams = nlohmann::json::object(), layers = nlohmann::json::array();
    bool weights = false;
    for (const auto& [key, v] : values.items()) {
        std::string k = key;
        std::replace(k.begin(), k.end(), '-', '_');
        if (k == "method") {
            r["method"] = chain.quantizer;
            weights = true;
        } else if (k == "asym") {
            if (!v.is_boolean()) throw Error(owner + ": asym: expected true or false, got " + v.dump());
            r["sym"] = !v.get<bool>();
            weights = true;
        } else if (specKeys.count(k)) {
            r[k] = v;
            weights = true;
        } else if (k == "act_quant" || k == "kv_quant") {
            if (!v.is_string()) throw Error(owner + ": " + key + ": expected a string like \"int8:token\", got " + v.dump());
            r[k == "act_quant" ? "activation" : "kv_cache"] =
                hookSpecFromString(v.get<std::string>(), "--" + flagSpelling(k)).toJson();
        } else if (k == "layer" || k == "layers") {
            // One rule ("GLOB=SPEC" or a rule object) or a list of them, in order.
            for (const auto& rule : v.is_array() ? v : nlohmann::json::array({v}))
                layers.push_back(rule.is_string() ? layerRuleJsonFromFlag(rule.get<std::string>()) : rule);
            weights = true;
        } else if (k == "calib" || k == "calib_windows") {
            // eval settings, not part of the recipe
        } else {
            bool known = false;
            for (const auto& p : q->params())
                if (p.name == k) methodParams[k] = v, known = true;
            for (auto& t : transforms)
                for (const auto& p : registries.transforms.get(t["name"].get<std::string>(), "transform").params())
                    if (p.name == k) t[k] = v, known = true;
            // A key of another method is fine in a grid (it does not apply to this point), not a typo.
            if (!known && !isRegisteredParam(k, registries)) throw Error(owner + ": unknown key \"" + key + "\"");
        }
    }
    if (weights) r["method_params"] = methodParams;
    if (!transforms.empty()) r["transforms"] = transforms;
    if (!layers.empty()) r["layers"] = layers;
    Recipe recipe = recipeFromJson(r, registries, owner);
    // QuantSpec quietly turns any granularity of a fixed-block format into its block; given explicitly,
    // another granularity is a combination that does not exist, so say so instead.
    if (recipe.quantizeWeights && r.contains("granularity") && r["granularity"] != "block") {
        const auto& f = formatTraits(recipe.job.spec.format);
        if (f.fixedBlock)
            throw Error(owner + ": format " + std::string(f.name) + " has fixed blocks of " +
                        std::to_string(f.fixedBlock) + ": granularity " + r["granularity"].get<std::string>() +
                        " does not apply");
    }
    return recipe;
}

bool recipeNeedsCalibration(const Recipe& recipe, const MethodRegistries& registries) {
    if (!recipe.quantizeWeights) return false;
    for (const auto& t : recipe.job.transforms)
        if (const ModelTransform* m = registries.transforms.find(t.name); m && m->needsCalibration()) return true;
    const auto calibrated = [&](const WeightAssignment& a) {
        const Quantizer* method = a.keep ? nullptr : registries.quantizers.find(a.method);
        return method && method->needsCalibration();
    };
    if (calibrated(recipe.job.defaults())) return true;
    for (const auto& r : recipe.job.layers)
        if (calibrated(r.assignment)) return true;
    return false;
}

} // namespace qs::core
