// SPDX-License-Identifier: MIT
#include "grad_inputs.h"

#include "cli_params.h"
#include "data/token_data.h"
#include "data/windows.h"

#include <filesystem>

namespace qs::cli {

GradInputs takeGradFlags(ArgList& args, const std::string& command) {
    GradInputs in;
    const auto data = args.takeOption("data");
    if (!data) throw core::Error(command + ": missing --data FILE");
    in.dataPath = *data;
    const core::ParamSchema evalFlags = schemaSubset(core::evalOptionsSchema(), {"ctx", "windows"});
    in.eval = core::evalOptionsFromJson(takeSchemaFlags(args, evalFlags), command);
    in.grad.float64 = args.takeFlag("float64");
    in.grad.recompute = args.takeFlag("recompute");
    if (const auto b = args.takeOption("batch-tokens")) {
        try {
            in.grad.batchTokens = std::stoll(*b);
        } catch (const std::exception&) {
            in.grad.batchTokens = 0;
        }
        if (in.grad.batchTokens < 1) throw core::Error(command + ": --batch-tokens " + *b + ": expected a count >= 1");
    }
    return in;
}

void openGradInputs(GradInputs& in, ArgList& args, const std::string& command) {
    const auto path = args.takePositional();
    if (!path) throw core::Error(command + ": missing MODEL");
    args.expectEmpty();
    in.model = core::openModel(*path);
    in.tokens = core::readTokenData(in.dataPath, in.model->path(), in.dataSource);
    in.windows = core::splitWindows(in.tokens, in.eval);
}

std::string gradFlagsHelp() {
    return "  --data FILE      UTF-8 text (tokenized with the model's tokenizer, no BOS) or a token-id .npy\n"
           "  --ctx N          tokens per window (default 128); each window is its own sequence and its\n"
           "                   first token is not scored, as in eval\n"
           "  --windows N      the first N windows (default: every full window)\n"
           "  --float64        every operation in float64 (weights upcast exactly; several times slower)\n"
           "  --recompute      keep only each layer's input and recompute the layer in the backward step\n"
           "                   (less memory, about one more forward pass)\n"
           "  --batch-tokens N windows per batch, up to N tokens (default 2048); never changes the result's\n"
           "                   meaning, only memory and speed\n";
}

nlohmann::json gradInputsJson(const GradInputs& in) {
    return {{"model", in.model->path().string()},
            {"data", std::filesystem::path(in.dataPath).string()},
            {"data_tokens", in.tokens.size()},
            {"ctx", in.eval.ctx},
            {"windows", in.windows.size()}};
}

} // namespace qs::cli
