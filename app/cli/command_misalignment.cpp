// SPDX-License-Identifier: MIT
// quantscope-cli misalignment: one weight's candidate quantizations scored by the layer-local objective
// and by the global change of loss; the registered "misalignment" analysis, stored with --project.
#include "analysis_flags.h"
#include "cli_params.h"
#include "commands.h"

#include <cstdio>

namespace qs::cli {

std::string misalignmentUsage(const CliContext& ctx) {
    return "quantscope-cli misalignment MODEL --data FILE --calib FILE --layer NAME [--format SPEC | --formats A,B]\n"
           "                      [--windows 8] [--calib-windows 128] [--mixes 6] [--project P] [--json]\n"
           "  For one weight and each format: RTN (min-max, percentile and MSE clipping), GPTQ variants (damping,\n"
           "  act-order, block), AWQ and random element-wise mixes of RTN's and GPTQ's weights, each scored by\n"
           "  the local objective tr((Q − W) H (Q − W)ᵀ)/tokens (H from --calib) and by the change of loss and KL\n"
           "  on --data when only this weight is quantized; Spearman and Kendall correlations per format.\n" +
           dataAnalysisFlagsHelp(8) + "  --format SPEC      one format (the same as --formats SPEC)\n" +
           schemaHelp(ctx.registries.analyses.get("misalignment", "analysis").params()) +
           "\n  JSON: result {candidates [{format, method, label, local, delta_loss, kld}], rank_correlation\n"
           "  (Spearman of local vs delta_loss over every candidate), per_format {SPEC: {spearman_delta_loss,\n"
           "  spearman_kld, kendall_delta_loss, misranking_delta_loss}}}\n";
}

nlohmann::json runMisalignment(ArgList& args, CliContext& ctx) {
    const auto format = args.takeOption("format");
    core::AnalysisRequest request = takeDataAnalysisFlags(args, ctx, "misalignment", 8);
    if (format) request.params["formats"] = *format;
    const AnalysisCommandResult result = runAnalysisCommand(args, ctx, std::move(request));
    if (ctx.json) return result.json;
    const nlohmann::json& r = result.outcome.output.summary;
    std::printf("%s misalignment of %s (reference loss %.6f, %lld calibration tokens)\n",
                result.outcome.reused ? "stored" : "measured", r["layer"].get<std::string>().c_str(),
                r["reference_loss"].get<double>(), r["calibration_tokens"].get<long long>());
    std::printf("%-20s %-18s %14s %12s %12s\n", "format", "candidate", "local", "dLoss", "KL");
    for (const auto& c : r["candidates"])
        std::printf("%-20s %-18s %14.6g %+12.6f %12.6f\n", c["format"].get<std::string>().c_str(),
                    c["label"].get<std::string>().c_str(), c["local"].get<double>(), c["delta_loss"].get<double>(),
                    c["kld"].get<double>());
    for (const auto& [f, c] : r["per_format"].items())
        std::printf("%s: Spearman(local, dLoss) %s, (local, KL) %s, misranked pairs %s\n", f.c_str(),
                    c["spearman_delta_loss"].dump().c_str(), c["spearman_kld"].dump().c_str(),
                    c["misranking_delta_loss"].dump().c_str());
    return result.json;
}

} // namespace qs::cli
