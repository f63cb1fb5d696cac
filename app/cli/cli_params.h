// SPDX-License-Identifier: MIT
#pragma once
#include "arg_list.h"
#include "experiment/builtins.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "base/param_schema.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::cli {

/// The parameters of `schema` named in `names`, in the schema's order (a command that takes only some
/// of a shared schema's flags, e.g. --ctx of the evaluation settings).
core::ParamSchema schemaSubset(const core::ParamSchema& schema, const std::vector<std::string>& names);

/// Takes the flags a schema declares (--name VALUE; --name / --no-name / --negFlag for booleans)
/// from `args`; only given keys appear in the result (validateParams fills defaults).
nlohmann::json takeSchemaFlags(ArgList& args, const core::ParamSchema& schema);

/// Parses --method TEXT = "[TRANSFORM+...+]METHOD" (a transform alone means TRANSFORM+rtn) into
/// job.method / job.transforms and takes the flags of the method and of every transform (a flag two
/// of them declare, e.g. --rotation, goes to both) into job.methodParams / each step's params.
void takeMethodChain(ArgList& args, const std::string& text, const core::Registries& registries, core::QuantJob& job);

/// The recipe a quantizing command's flags describe, through core::recipeFromJson (the one gate):
/// `--recipe R.json`, or `--method` with the spec and method flags, plus any `--layer GLOB=SPEC`
/// rules (repeatable; appended after the file's rules) and, when `hooks`, `--act-quant` / `--kv-quant`.
/// `--recipe` with --method/spec/hook flags is an error naming `command`. Nothing given: the fp32 recipe.
core::Recipe takeRecipe(ArgList& args, const core::Registries& registries, const std::string& command, bool hooks);

/// The "Spec flags" and "Methods" sections of a quantizing command's --help, from the registries.
std::string quantizationHelp(const core::Registries& registries);

/// "  --group N   group size along the input dimension (default 128, 1..1048576)" lines for --help.
std::string schemaHelp(const core::ParamSchema& schema);

} // namespace qs::cli
