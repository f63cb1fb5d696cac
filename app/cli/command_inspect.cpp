// SPDX-License-Identifier: MIT
#include "commands.h"
#include "quant/model_quantizer.h"
#include "experiment/text_report.h"
#include "base/error.h"

#include <iostream>

namespace qs::cli {

std::string inspectUsage(const CliContext&) {
    return "quantscope-cli inspect MODEL [--json]\n"
           "  MODEL: a Hugging Face model directory (config.json + safetensors)\n"
           "  Prints every weight with shape, dtype, parameters and its distribution.\n";
}

nlohmann::json runInspect(ArgList& args, CliContext& ctx) {
    const auto path = args.takePositional();
    if (!path) throw core::Error("inspect: missing MODEL");
    args.expectEmpty();
    const auto model = core::openModel(*path);
    const auto layers = core::inspectModel(*model, ctx.job);
    if (!ctx.json) std::cout << core::formatLayerTable(*model, layers);

    const auto& cfg = model->config();
    auto arr = nlohmann::json::array();
    for (const auto& l : layers) {
        nlohmann::json j{{"name", l.info.name},
                         {"shape", l.info.shape},
                         {"dtype", std::string(core::dtypeName(l.info.dtype))},
                         {"role", core::weightRoleName(l.info.role)},
                         {"layer_index", l.info.layerIndex},
                         {"quantizable", l.info.quantizable},
                         {"parameters", core::numel(l.info.shape)}};
        j.update(l.stats.toJson());
        arr.push_back(std::move(j));
    }
    return {{"model", model->path().string()},
            {"model_type", cfg.modelType},
            {"config",
             {{"hidden_size", cfg.hiddenSize},
              {"num_hidden_layers", cfg.numLayers},
              {"num_attention_heads", cfg.numHeads},
              {"num_key_value_heads", cfg.numKvHeads},
              {"head_dim", cfg.headDim},
              {"intermediate_size", cfg.intermediateSize},
              {"vocab_size", cfg.vocabSize}}},
            {"parameters", model->parameterCount()},
            {"quantizable_parameters", model->quantizableParameterCount()},
            {"tensors", arr}};
}

} // namespace qs::cli
