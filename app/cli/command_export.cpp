// SPDX-License-Identifier: MIT
#include "cli_params.h"
#include "commands.h"
#include "experiment/run_export.h"
#include "export/recipe_export.h"
#include "store/project.h"
#include "base/error.h"

#include <filesystem>
#include <optional>
#include <iostream>

namespace qs::cli {

std::string exportUsage(const CliContext&) {
    return "quantscope-cli export P.qsproj --run ID --out PATH --as KIND [--gguf-type per-tensor|f16|bf16|q8_0|q4_0|q4_1]\n"
           "                      [--json]\n"
           "quantscope-cli export MODEL --recipe R.json|--method M spec flags [--layer GLOB=SPEC ...] --out PATH\n"
           "                      --as KIND [--gguf-type ...] [--json]\n"
           "  Writes a stored run's recipe (or R.json) applied to its model. KIND:\n"
           "  recipe              the recipe JSON (eval/quantize --recipe re-import it)\n"
           "  llama-overrides     --tensor-type NAME=TYPE lines for llama-quantize, and which layers do not map\n"
           "  safetensors         a Hugging Face directory with the dequantized weights (float32)\n"
           "  safetensors-packed  a directory with integer codes, scales and zero points (INT-k recipes;\n"
           "                      layout in its quantization_config.json)\n"
           "  gguf                a llama GGUF file with the dequantized weights as --gguf-type (default f16;\n"
           "                      a recipe with layer rules: per-tensor, each weight in the type its rule maps\n"
           "                      to as llama-overrides lists it, kept weights at their stored type, f16 else)\n";
}


nlohmann::json runExport(ArgList& args, CliContext& ctx) {
    const auto runId = args.takeOption("run");
    // MODEL --recipe R.json, or the quantization flags (--method/--format/--layer ...) directly.
    const core::Recipe given = takeRecipe(args, ctx.registries, "export", true);
    const auto out = args.takeOption("out");
    const auto as = args.takeOption("as");
    const auto ggufType = args.takeOption("gguf-type");
    const auto source = args.takePositional();
    if (!source) throw core::Error("export: missing P.qsproj or MODEL");
    if (!out) throw core::Error("export: missing --out PATH");
    if (!as) throw core::Error("export: missing --as recipe|llama-overrides|safetensors|safetensors-packed|gguf");
    if (runId.has_value() == !given.isReference())
        throw core::Error("export: give either P.qsproj --run ID or MODEL --recipe R.json (or MODEL with "
                          "--method/--format/--layer flags)");
    args.expectEmpty();
    core::ExportOptions opts;
    opts.kind = core::parseExportKind(*as);

    nlohmann::json j;
    if (runId) {
        auto project = core::Project::open(*source, false);
        j = core::exportStoredRun(*project, std::stoll(*runId), *as, ggufType.value_or(""), ctx.registries, *out, ctx.job);
    } else {
        opts.ggufType = core::ggufTypeFromName(ggufType.value_or(""), given);
        const auto model = core::openModel(*source);
        j = core::exportRecipe(*model, given, ctx.registries, *out, opts, ctx.job);
        j["model"] = model->path().string();
        j["label"] = given.label();
    }
    if (!ctx.json) {
        std::cout << "wrote " << j["out"].get<std::string>() << " (" << *as << ", " << j["label"].get<std::string>() << ")\n";
        if (j.contains("unmapped") && !j["unmapped"].empty())
            std::cout << j["unmapped"].size() << " layers have no GGUF type: " << j["unmapped"][0]["reason"].get<std::string>()
                      << '\n';
        if (j.contains("warning")) std::cout << "note: " << j["warning"].get<std::string>() << '\n';
    }
    return j;
}

} // namespace qs::cli
