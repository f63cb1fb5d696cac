// SPDX-License-Identifier: MIT
#include "base/param_schema.h"

#include "base/error.h"

#include <algorithm>
#include <cstdlib>

namespace qs::core {
namespace {

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

void checkRange(const ParamSpec& p, double v, const std::string& owner) {
    if (p.min <= p.max && (v < p.min || v > p.max))
        throw Error(owner + ": parameter '" + p.name + "' = " + std::to_string(v) + " is outside [" +
                    std::to_string(p.min) + ", " + std::to_string(p.max) + "]");
}

} // namespace

nlohmann::json validateParams(const ParamSchema& schema, const nlohmann::json& given, const std::string& owner) {
    if (!given.is_null() && !given.is_object()) throw Error(owner + ": parameters must be a JSON object");
    nlohmann::json out = nlohmann::json::object();
    if (given.is_object())
        for (const auto& item : given.items()) {
            // A named copy, not a structured binding: lambdas cannot capture those before clang 16.
            const std::string& key = item.key();
            auto it = std::find_if(schema.begin(), schema.end(), [&](const ParamSpec& p) { return p.name == key; });
            if (it == schema.end()) {
                std::vector<std::string> names;
                for (const auto& p : schema) names.push_back(p.name);
                throw Error(owner + ": unknown parameter '" + key + "' (known: " + join(names) + ")");
            }
        }
    for (const auto& p : schema) {
        nlohmann::json v = given.is_object() && given.contains(p.name) ? given.at(p.name) : p.defaultValue;
        switch (p.type) {
        case ParamType::Int:
            if (!v.is_number_integer()) throw Error(owner + ": parameter '" + p.name + "' must be an integer");
            checkRange(p, v.get<double>(), owner);
            break;
        case ParamType::Float:
            if (!v.is_number()) throw Error(owner + ": parameter '" + p.name + "' must be a number");
            checkRange(p, v.get<double>(), owner);
            break;
        case ParamType::Bool:
            if (!v.is_boolean()) throw Error(owner + ": parameter '" + p.name + "' must be true or false");
            break;
        case ParamType::Choice:
            if (!v.is_string() ||
                std::find(p.choices.begin(), p.choices.end(), v.get<std::string>()) == p.choices.end())
                throw Error(owner + ": parameter '" + p.name + "' = " + v.dump() + " must be one of: " + join(p.choices));
            break;
        case ParamType::Text:
            if (!v.is_string()) throw Error(owner + ": parameter '" + p.name + "' must be text");
            break;
        }
        out[p.name] = v;
    }
    return out;
}

nlohmann::json parseParamValue(const ParamSpec& p, const std::string& text) {
    const std::string where = "--" + p.name + " " + text;
    switch (p.type) {
    case ParamType::Int: {
        char* end = nullptr;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end) throw Error(where + ": expected an integer");
        return v;
    }
    case ParamType::Float: {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end) throw Error(where + ": expected a number");
        return v;
    }
    case ParamType::Bool:
        if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
        if (text == "false" || text == "0" || text == "no" || text == "off") return false;
        throw Error(where + ": expected true or false");
    case ParamType::Choice:
    case ParamType::Text: return text;
    }
    return text;
}

nlohmann::json schemaToJson(const ParamSchema& schema) {
    auto arr = nlohmann::json::array();
    static const char* kTypes[] = {"int", "float", "bool", "choice", "text"};
    for (const auto& p : schema) {
        nlohmann::json j{{"name", p.name},
                         {"type", kTypes[static_cast<int>(p.type)]},
                         {"default", p.defaultValue},
                         {"help", p.help},
                         {"label", p.label.empty() ? p.name : p.label}};
        if (p.min <= p.max && (p.type == ParamType::Int || p.type == ParamType::Float)) {
            j["min"] = p.min;
            j["max"] = p.max;
        }
        if (!p.choices.empty()) j["choices"] = p.choices;
        arr.push_back(std::move(j));
    }
    return arr;
}

std::string flagSpelling(std::string key) {
    std::replace(key.begin(), key.end(), '_', '-');
    return key;
}

} // namespace qs::core
