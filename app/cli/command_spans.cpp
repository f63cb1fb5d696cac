// SPDX-License-Identifier: MIT
// quantscope-cli spans: per-head attention spans on the data and the model with attention masked to
// them; the registered "spans" analysis, stored with --project.
#include "analysis_flags.h"
#include "cli_params.h"
#include "commands.h"

#include <cstdio>

namespace qs::cli {

std::string spansUsage(const CliContext& ctx) {
    return "quantscope-cli spans MODEL --data FILE [--ctx N] [--windows N] [--mass 0.99] [--sinks 4]\n"
           "               [--quantile 1] [--block B] [--project P] [--json]\n"
           "  For every attention head, the smallest recency window that (with the first --sinks keys) holds\n"
           "  --mass of each query's attention on the data (a head's span: the --quantile of its queries');\n"
           "  then the model with attention masked to those spans (sparse attention) against the full model on\n"
           "  the same windows, the attention work saved and the KV cache kept. With --project the analysis is\n"
           "  stored and the same inputs re-open it.\n" +
           dataAnalysisFlagsHelp(16) +
           schemaHelp(ctx.registries.analyses.get("spans", "analysis").params()) +
           "\n  JSON: result {mass, perplexity (masked), reference_perplexity (full), kld, attention_work_saved,\n"
           "  kv_kept_fraction, heads [{layer, head, kv_head, span, median, p95, span_fraction}]}\n";
}

nlohmann::json runSpans(ArgList& args, CliContext& ctx) {
    const AnalysisCommandResult result = runAnalysisCommand(args, ctx, takeDataAnalysisFlags(args, ctx, "spans", 16));
    const core::AnalysisOutcome& out = result.outcome;
    if (ctx.json) return result.json;

    const nlohmann::json& r = out.output.summary;
    std::printf("spans (%s) at mass %g (%d sink keys, quantile %g) over %d-token windows\n", outcomeTag(out).c_str(),
                r["mass"].get<double>(), r["sinks"].get<int>(), r["quantile"].get<double>(), r["ctx"].get<int>());
    const int heads = r["heads_per_layer"].get<int>();
    for (int l = 0; l < r["layers"].get<int>(); ++l) {
        std::printf("layer %3d:", l);
        for (int h = 0; h < heads; ++h) std::printf(" %4d", r["heads"][std::size_t(l * heads + h)]["span"].get<int>());
        std::printf("\n");
    }
    std::printf("perplexity %.4f with spans, %.4f full (KL %.5f, top-1 %.2f %%); attention work saved %.1f %%, "
                "KV kept %.1f %%\n",
                r["perplexity"].get<double>(), r["reference_perplexity"].get<double>(), r["kld"].get<double>(),
                100 * r["top1_agreement"].get<double>(), 100 * r["attention_work_saved"].get<double>(),
                100 * r["kv_kept_fraction"].get<double>());
    return result.json;
}

} // namespace qs::cli
