// SPDX-License-Identifier: MIT
#include "cli_params.h"
#include "commands.h"
#include "engine/model_jobs.h"
#include "engine/text_report.h"
#include "export/hf_writer.h"
#include "tensor/error.h"

#include <filesystem>
#include <iostream>

namespace qs::cli {

std::string quantizeUsage(const CliContext& ctx) {
    std::string s = "quantscope-cli quantize MODEL --method M [spec flags] [--out DIR [--out-dtype f32|bf16|f16]] "
                    "[--json]\n  Quantizes every decoder Linear weight and reports per-layer error and bits/weight.\n"
                    "  --out DIR writes a Hugging Face model directory with the dequantized weights.\n\n";
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
    core::QuantJob job;
    job.method = args.takeOption("method").value_or("rtn");
    const auto& method = ctx.registries.quantizers.get(job.method, "method");
    job.spec = core::QuantSpec::fromJson(takeSchemaFlags(args, core::quantSpecSchema()));
    job.methodParams = takeSchemaFlags(args, method.params());
    const auto out = args.takeOption("out");
    const core::DType outDtype = parseOutDtype(args.takeOption("out-dtype").value_or("f32"));
    const auto path = args.takePositional();
    if (!path) throw core::Error("quantize: missing MODEL");
    args.expectEmpty();

    const auto model = core::openModel(*path);
    auto result = core::quantizeModel(*model, ctx.registries, job, ctx.job, out.has_value());
    nlohmann::json j = result.toJson();
    j["model"] = model->path().string();
    if (out) {
        core::writeHfModel(*model, result.weights, *out, outDtype);
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
