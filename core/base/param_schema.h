// SPDX-License-Identifier: MIT
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::core {

/// Type of one declared parameter.
enum class ParamType { Int, Float, Bool, Choice, Text };

/// One parameter of a registry entry, declared once: the CLI flag (--name), the GUI form field,
/// the recipe key and the stored config all come from this.
struct ParamSpec {
    std::string name;               ///< flag/recipe key, e.g. "group"
    ParamType type = ParamType::Int;
    nlohmann::json defaultValue;    ///< default (matching type)
    double min = 0, max = 0;        ///< inclusive range for Int/Float (ignored when min > max)
    std::vector<std::string> choices; ///< allowed values for Choice (Text: any string, e.g. a list the owner parses)
    std::string help;               ///< one line for --help and tooltips
    std::string label;              ///< short human label for forms
    std::string negFlag;            ///< Bool only: a flag that sets it false (e.g. "asym" for "sym")
};

using ParamSchema = std::vector<ParamSpec>;

/// Fills defaults for missing keys and checks types/ranges/choices; throws Error naming the
/// parameter and the allowed values. Unknown keys are errors too (typos must not pass silently).
nlohmann::json validateParams(const ParamSchema& schema, const nlohmann::json& given, const std::string& owner);

/// Parses a command-line string value into the parameter's JSON type; throws Error.
nlohmann::json parseParamValue(const ParamSpec& spec, const std::string& text);

/// The command-line spelling of a key: snake_case keys take dashes on the command line
/// (full_range -> full-range); the one rule for CLI flags and sweep grid keys.
std::string flagSpelling(std::string key);

/// The schema as JSON (for `--json` listings and GUI forms).
nlohmann::json schemaToJson(const ParamSchema& schema);

} // namespace qs::core
