// SPDX-License-Identifier: MIT
#pragma once
// What `grad` and `curvature` share: the model, the evaluation windows of --data and the backward
// pass's flags.
#include "arg_list.h"
#include "commands.h"
#include "data/windows.h"
#include "model/model.h"
#include "nn/causal_lm_grad.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::cli {

struct GradInputs {
    std::unique_ptr<core::Model> model;
    std::vector<std::int32_t> tokens;
    std::vector<std::span<const std::int32_t>> windows;
    core::EvalOptions eval;
    core::GradOptions grad;
    std::string dataPath, dataSource;
};

/// Takes --data, --ctx, --windows, --float64, --recompute, --batch-tokens from `args` (MODEL stays);
/// the flags' help lines are gradFlagsHelp().
GradInputs takeGradFlags(ArgList& args, const std::string& command);
/// Opens MODEL (the positional argument) and cuts --data into windows. Call after every flag is taken.
void openGradInputs(GradInputs& in, ArgList& args, const std::string& command);
/// Help lines of the flags takeGradFlags takes.
std::string gradFlagsHelp();
/// {"model", "data", "data_tokens", "ctx", "windows"} of the inputs.
nlohmann::json gradInputsJson(const GradInputs& in);

} // namespace qs::cli
