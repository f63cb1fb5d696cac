// SPDX-License-Identifier: MIT
#pragma once
#include "commands.h"

namespace qs::cli {

/// True when a positional argument names an .onnx file: eval then runs as a classifier evaluation.
bool isClassifierEval(const ArgList& args);

/// `eval MODEL.onnx --data X --labels Y [weight spec flags] [--act-quant Q] [--calib X] [--batch N]`:
/// accuracy and misclassified indices, and with quantization the fp32 reference and argmax agreement.
nlohmann::json runEvalClassifier(ArgList& args, CliContext& ctx);

/// The classifier part of eval's --help.
std::string evalClassifierUsage();

} // namespace qs::cli
