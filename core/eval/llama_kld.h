// SPDX-License-Identifier: MIT
// A model against llama-perplexity's saved base log-probabilities, and such files written by us.
#pragma once
#include "base/job.h"
#include "data/llama_cpp_chunks.h"
#include "eval/perplexity.h"
#include "io/llama_logits_file.h"
#include "nn/causal_lm.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace qs::core {

/// llama-perplexity --kl-divergence's statistics (same formulas; the base distribution is the file's
/// 16-bit log-probabilities, and only base probabilities above e^-16 enter the KLD, as there).
struct LlamaKldResult {
    PerplexityResult candidate; ///< PPL(Q) of the model on the file's chunks, second halves scored
    double basePerplexity = 0;  ///< PPL(base) from the file's log-probabilities
    double logPplRatio = 0;     ///< mean ln(PPL(Q)/PPL(base))
    KldStats kld;               ///< mean ± stderr, median, p99, p99.9, max; top1Agreement = "same top p"
    double rmsDeltaP = 0;       ///< RMS of p(target) - p_base(target)

    /// {"perplexity", "base_perplexity", "ln_ppl_ratio", "kld": {...}, "rms_delta_p", "chunks", "ctx", "tokens_scored"}.
    nlohmann::json toJson() const;
};

/// Runs `lm` on the first `maxChunks` (0 = all) chunks of `base` (their first token replaced by `bos`
/// when given, as llama-perplexity does for a model that adds BOS) and compares it with the file.
/// Throws Error when the vocabularies differ.
LlamaKldResult compareWithLlamaLogits(const CausalLm& lm, const LlamaLogitsFile& base,
                                      std::optional<std::int32_t> bos, long long maxChunks, const JobContext& job);

/// Perplexity of `lm` under llama-perplexity's protocol on `chunks`, writing its log-probability file
/// to `out` (what llama-perplexity --kl-divergence-base FILE writes without --kl-divergence);
/// `unsubstituted` are the chunks' tokens before BOS replaced their first (the file stores those).
PerplexityResult saveLlamaLogits(const CausalLm& lm, const LlamaCppChunks& chunks,
                                 std::span<const std::int32_t> unsubstituted, const std::filesystem::path& out,
                                 const JobContext& job);

} // namespace qs::core
