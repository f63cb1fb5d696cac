// SPDX-License-Identifier: MIT
#include "analysis_flags.h"
#include "commands.h"

#include "analysis/sensitivity_analysis.h"
#include "base/error.h"
#include "model/model.h"

#include <cmath>
#include <cstdio>

namespace qs::cli {

std::string sensitivityUsage(const CliContext& ctx) {
    return "quantscope-cli sensitivity MODEL --calib FILE [--formats A,B,C] [--groups fused|each] [--pairs]\n"
           "                          [--data FILE] [--project P.qsproj] [--json]\n"
           "  Measures, for every decision group (weights a runtime fuses: q/k/v, gate/up; or each weight) and\n"
           "  every candidate format, the change of loss, KL and top-1 agreement on the sensitivity set when\n"
           "  only that group is quantized (each evaluation starts at the group's layer: the hidden states\n"
           "  entering it are cached). Beside them: the local objective tr(dW XtX dW^T) and HAWQ's Hessian-\n"
           "  trace score, with their rank correlation to the measured change; with --pairs CLADO's pairwise\n"
           "  interaction terms. With --project the analysis is stored (SQLite + HDF5) with what produced it,\n"
           "  and the same inputs re-open it instead of recomputing.\n\n" +
           analysisFlagsHelp(ctx, "sensitivity") +
           "  --data FILE        held-out data: not used by the measurement (mixed-precision evaluates its\n"
           "                     plans there); accepted so both commands take the same flags\n"
           "  --project P        store the analysis (or re-open a stored one)\n";
}

nlohmann::json runSensitivity(ArgList& args, CliContext& ctx) {
    core::AnalysisRequest request = takeAnalysisFlags(args, ctx, "sensitivity", "sensitivity");
    args.takeOption("data");
    const AnalysisCommandResult result = runAnalysisCommand(args, ctx, std::move(request));
    const core::AnalysisOutcome& out = result.outcome;
    if (ctx.json) return result.json;

    const core::SensitivityResult r = core::sensitivityFromOutput(out.output);
    std::printf("sensitivity (%s): reference NLL %.5f (ppl %.4f) on %lld tokens\n", outcomeTag(out).c_str(),
                r.reference.nll, std::exp(r.reference.nll), static_cast<long long>(r.scoredTokens));
    std::printf("%-46s %9s", "group", "params");
    for (const auto& c : r.candidates) std::printf("  %22s", c.c_str());
    std::printf("\n%-46s %9s", "", "");
    for (std::size_t c = 0; c < r.candidates.size(); ++c) std::printf("  %22s", "dLoss / KL / bpw");
    std::printf("\n");
    for (std::size_t g = 0; g < r.groups.size(); ++g) {
        std::printf("%-46s %9lld", r.groups[g].name.c_str(), static_cast<long long>(r.groups[g].params));
        for (std::size_t c = 0; c < r.candidates.size(); ++c)
            std::printf("  %9s %7.5f %4.2f", signedText(r.deltaLoss[g][c], 5).c_str(), r.kld[g][c],
                        r.bitsPerWeight[g][c]);
        std::printf("\n");
    }
    const nlohmann::json corr = r.correlations();
    for (const auto& [proxy, v] : corr.items())
        std::printf("Spearman rho of %s vs measured: dLoss %s, KL %s\n", proxy.c_str(), v["delta_loss"].dump().c_str(),
                    v["kld"].dump().c_str());
    if (r.interaction.size())
        std::printf("CLADO pair terms: %lld pairs measured, largest |c| %.5f\n", r.pairsMeasured,
                    r.interaction.cwiseAbs().maxCoeff());
    std::printf("%lld evaluations, %lld layer runs (%lld without the prefix cache), %.1f s\n", r.evaluations,
                r.layerRuns, r.layerRunsWithoutCache, r.seconds);
    if (r.layerMajor)
        std::printf("one decoder layer at a time: %d pass(es) over the layers, at most %.1f MB of float32 weights\n",
                    r.passes, double(r.peakWeightBytes) / 1e6);
    for (const std::string& note : r.notes) std::printf("note: %s\n", note.c_str());
    return result.json;
}

} // namespace qs::cli
