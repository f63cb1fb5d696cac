// SPDX-License-Identifier: MIT
#include "engine/recipe.h"

#include "io/file_util.h"
#include "transform/transform_pipeline.h"
#include "tensor/error.h"

#include <cctype>
#include <set>
#include <sstream>

namespace qs::core {
namespace {

const std::set<std::string>& weightKeys() {
    static const std::set<std::string> keys = [] {
        std::set<std::string> k{"method", "method_params", "transforms"};
        for (const auto& p : quantSpecSchema()) k.insert(p.name);
        return k;
    }();
    return keys;
}

QuantSpec specFromJson(const nlohmann::json& j, const std::string& owner) {
    try {
        return QuantSpec::fromJson(j);
    } catch (const Error& e) {
        throw Error(owner + ": " + e.what());
    }
}

} // namespace

QuantSpec normalizedSpec(QuantSpec s) {
    const QuantSpec defaults;
    if (s.granularity != Granularity::Group && s.granularity != Granularity::Block) s.groupSize = 128;
    if (s.scaleRule != ScaleRule::Percentile) s.percentile = defaults.percentile;
    return s;
}

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
    }
    if (activation) s += std::string(s.empty() ? "" : " + ") + "act " + activation->label();
    if (kvCache) s += std::string(s.empty() ? "" : " + ") + "kv " + kvCache->label();
    return s;
}

QuantJob quantJobFromJson(const nlohmann::json& j, const Registries& registries, const std::string& owner) {
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
    return job;
}

Recipe recipeFromJson(const nlohmann::json& j, const Registries& registries, const std::string& owner) {
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

Recipe loadRecipeFile(const std::filesystem::path& path, const Registries& registries) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(readWholeFile(path));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": not valid JSON: " + e.what());
    }
    return recipeFromJson(j, registries, path.string());
}

void saveRecipeFile(const std::filesystem::path& path, const Recipe& recipe) {
    writeFileAtomically(path, recipe.toJson().dump(2) + "\n");
}

QuantSpec hookSpecFromString(const std::string& text, const std::string& flag) {
    nlohmann::json j = {{"granularity", "token"}};
    std::stringstream ss(text);
    std::string part;
    bool first = true;
    while (std::getline(ss, part, ':')) {
        if (first) {
            j["format"] = part;
            first = false;
        } else if (part == "sym" || part == "asym") {
            j["sym"] = part == "sym";
        } else if (part.size() > 1 && part[0] == 'p' &&
                   (std::isdigit(static_cast<unsigned char>(part[1])) || part[1] == '.')) {
            // pNN.N: clip each scale's run (a token's row) to the NN.N-th percentile (DGQ's activations).
            std::size_t used = 0;
            double p = 0;
            try {
                p = std::stod(part.substr(1), &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != part.size() - 1)
                throw Error(flag + " " + text + ": bad percentile '" + part + "' (e.g. p99.9)");
            j["scale"] = "percentile";
            j["percentile"] = p;
        } else if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
            try {
                j["group"] = std::stoi(part);
            } catch (const std::exception&) {
                throw Error(flag + " " + text + ": bad group size '" + part + "'");
            }
        } else {
            j["granularity"] = part;
        }
    }
    return specFromJson(j, flag + " " + text);
}

bool recipeNeedsCalibration(const Recipe& recipe, const Registries& registries) {
    if (!recipe.quantizeWeights) return false;
    for (const auto& t : recipe.job.transforms)
        if (const ModelTransform* m = registries.transforms.find(t.name); m && m->needsCalibration()) return true;
    const Quantizer* method = registries.quantizers.find(recipe.job.method);
    return method && method->needsCalibration();
}

} // namespace qs::core
