// SPDX-License-Identifier: MIT
#include "data/calib_data.h"
#include "cli_params.h"
#include "data/windows.h"
#include "commands.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "experiment/text_report.h"
#include "export/hf_writer.h"
#include "base/error.h"

#include <filesystem>
#include <iostream>
#include <optional>

namespace qs::cli {

std::string quantizeUsage(const CliContext& ctx) {
    std::string s = "quantscope-cli quantize MODEL --method M [spec flags] [--calib FILE [--calib-windows N] [--ctx N]]\n"
                    "                       [--recipe R.json] [--out DIR [--out-dtype f32|bf16|f16]] [--json]\n"
                    "  Quantizes every decoder Linear weight and reports per-layer error and bits/weight.\n"
                    "  --out DIR writes a Hugging Face model directory with the dequantized weights.\n"
                    "  --calib FILE (text or token .npy) feeds calibrated methods (gptq): the first --calib-windows\n"
                    "  (default 128) non-overlapping windows of --ctx (default 128) tokens, each its own sequence.\n\n";
    return s + quantizationHelp(ctx.registries);
}

namespace {
core::DType parseOutDtype(const std::string& s) {
    if (s == "f32" || s == "float32") return core::DType::F32;
    if (s == "bf16" || s == "bfloat16") return core::DType::BF16;
    if (s == "f16" || s == "float16") return core::DType::F16;
    throw core::Error("--out-dtype " + s + ": expected f32, bf16 or f16");
}
} // namespace

nlohmann::json runQuantize(ArgList& args, CliContext& ctx) {
    const core::Recipe recipe = takeRecipe(args, ctx.registries, "quantize", false);
    // Nothing given quantizes with the default spec (rtn int4 group 128 sym), as before.
    const core::QuantJob job = recipe.quantizeWeights ? recipe.job : core::QuantJob{};
    const auto calibFile = args.takeOption("calib");
    // --ctx and --calib-windows shape the calibration windows: the evaluation schema's keys.
    const nlohmann::json evalFlags = takeSchemaFlags(args, core::evalOptionsSchema());
    if (evalFlags.contains("windows")) throw core::Error("quantize: --windows is an eval setting (calibration: --calib-windows)");
    if (evalFlags.contains("compute")) throw core::Error("quantize: --compute is an eval setting (quantizers run in float32)");
    if (!evalFlags.empty() && !calibFile) throw core::Error("quantize: --calib-windows/--ctx need --calib FILE");
    const nlohmann::json e = core::validateParams(core::evalOptionsSchema(), evalFlags, "quantize");
    const long long windows = e.at("calib_windows").get<long long>();
    const int ctxTokens = e.at("ctx").get<int>();
    const auto out = args.takeOption("out");
    const core::DType outDtype = parseOutDtype(args.takeOption("out-dtype").value_or("f32"));
    const auto path = args.takePositional();
    if (!path) throw core::Error("quantize: missing MODEL");
    args.expectEmpty();

    const auto model = core::openModel(*path);
    std::optional<core::CalibrationData> calib;
    if (calibFile) calib = core::loadCalibrationData(*calibFile, model->path(), ctxTokens, windows);
    // Weights to write are held compactly as they are made (codes times scales: never the whole model
    // in float32), then written one at a time.
    core::HeldWeights held;
    core::WeightObserver hold;
    if (out)
        hold = [&](const std::string& name, const std::vector<float>& values) { held.add(*model, name, values); };
    auto result = core::quantizeModel(*model, ctx.registries, job, ctx.job, false, {}, calib ? &*calib : nullptr, nullptr, hold);
    nlohmann::json j = result.toJson();
    j["model"] = model->path().string();
    if (out && result.transformed && result.transformed->online)
        throw core::Error("quantize --out: the transforms need online rotations in the forward pass, which a plain "
                          "checkpoint cannot hold (smoothquant folds completely and can be written)");
    if (out) {
        core::writeHfModel(*model, held, *out, outDtype);
        j["out"] = std::filesystem::absolute(*out).string();
        j["out_dtype"] = std::string(core::dtypeName(outDtype));
    }
    if (!ctx.json) {
        std::cout << core::formatQuantResult(result);
        if (out) std::cout << "wrote " << j["out"].get<std::string>() << " (" << j["out_dtype"].get<std::string>() << ")\n";
    }
    return j;
}

} // namespace qs::cli
