// SPDX-License-Identifier: MIT
#include "experiment/quality_report.h"

#include "nn/causal_lm.h"

#include <cstdio>
#include <sstream>

namespace qs::core {

std::vector<RecipeQuality> compareRecipes(const Model& model, const Registries& registries,
                                          std::span<const std::int32_t> tokens, const EvalOptions& opts,
                                          const std::vector<QuantJob>& jobs, const JobContext& ctx) {
    CausalLm reference(model, {}, ctx);
    const ForwardHooks products{.bf16Products = opts.bf16Products};
    reference.setHooks(products);
    std::vector<RecipeQuality> rows;
    for (const auto& job : jobs) {
        // Each quantized weight goes into the candidate as it is made (held as codes where its grid
        // allows), never beside float32 copies of every other.
        CausalLm candidate(reference, {});
        const ModelQuantResult q = quantizeModel(model, registries, job, ctx, false, {}, nullptr, &candidate);
        // Online rotations of a transformed recipe; the products' precision either way.
        candidate.setHooks(q.transformed ? q.transformed->hooks(products) : products);
        rows.push_back({job, q.bitsPerWeight, compareWithReference(reference, candidate, tokens, opts, ctx)});
    }
    return rows;
}

std::string formatRecipeQuality(const std::vector<RecipeQuality>& rows) {
    std::ostringstream os;
    char buf[256];
    if (rows.empty()) return {};
    const auto& ref = rows.front().comparison.reference;
    std::snprintf(buf, sizeof buf, "Perplexity on %lld scored tokens (%lld windows of %d): fp32 %.4f\n\n",
                  ref.tokensScored, ref.windows, ref.ctx, ref.perplexity);
    os << buf;
    std::snprintf(buf, sizeof buf, "%-34s %8s %10s %9s %10s %8s\n", "recipe", "bits/w", "ppl", "delta", "mean KLD",
                  "top-1 %");
    os << buf << std::string(84, '-') << '\n';
    for (const auto& r : rows) {
        const auto& c = r.comparison;
        std::snprintf(buf, sizeof buf, "%-34s %8.3f %10.4f %+9.4f %10.5f %8.2f\n",
                      (r.job.method + " " + r.job.spec.label()).c_str(), r.bitsPerWeight, c.candidate.perplexity,
                      c.deltaPerplexity(), c.kld.mean, 100.0 * c.kld.top1Agreement);
        os << buf;
    }
    return os.str();
}

} // namespace qs::core
