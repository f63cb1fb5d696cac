// SPDX-License-Identifier: MIT
#pragma once
#include "arg_list.h"
#include "engine/builtins.h"
#include "quant/param_schema.h"

#include <nlohmann/json.hpp>
#include <string>

namespace qs::cli {

/// Takes the flags a schema declares (--name VALUE; --name / --no-name / --negFlag for booleans)
/// from `args`; only given keys appear in the result (validateParams fills defaults).
nlohmann::json takeSchemaFlags(ArgList& args, const core::ParamSchema& schema);

/// The "Spec flags" and "Methods" sections of a quantizing command's --help, from the registries.
std::string quantizationHelp(const core::Registries& registries);

/// "  --group N   group size along the input dimension (default 128, 1..1048576)" lines for --help.
std::string schemaHelp(const core::ParamSchema& schema);

} // namespace qs::cli
