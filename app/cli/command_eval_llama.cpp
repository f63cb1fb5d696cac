// SPDX-License-Identifier: MIT
// eval --kl-divergence-base FILE --kld: a model (quantized by the flags, if any) against
// llama-perplexity's saved base log-probabilities.
#include "command_eval_llama.h"

#include "base/error.h"
#include "data/calib_data.h"
#include "eval/llama_kld.h"
#include "io/llama_logits_file.h"
#include "quant/model_quantizer.h"
#include "tokenizer/tokenizer.h"

#include <cstdio>

namespace qs::cli {

nlohmann::json evalAgainstLlamaLogits(const std::string& modelPath, const std::string& baseFile,
                                      const core::Recipe& recipe, const core::EvalOptions& opts,
                                      const std::optional<std::string>& calibFile, long long calibWindows,
                                      CliContext& ctx) {
    const core::LlamaLogitsFile base = core::readLlamaLogitsFile(baseFile);
    const auto model = core::openModel(modelPath);
    std::optional<core::ModelQuantResult> quant;
    std::map<std::string, std::vector<float>> replaced;
    if (recipe.quantizeWeights) {
        std::optional<core::CalibrationData> calib;
        if (calibFile) calib = core::loadCalibrationData(*calibFile, model->path(), opts.ctx, calibWindows);
        quant = core::quantizeModel(*model, ctx.registries, recipe.job, ctx.job, true, {}, calib ? &*calib : nullptr);
        replaced = std::move(quant->weights);
    }
    core::CausalLm lm(*model, std::move(replaced), ctx.job);
    core::ForwardHooks hooks;
    hooks.activation = recipe.activation;
    hooks.kvCache = recipe.kvCache;
    lm.setHooks(quant ? quant->hooks(hooks) : hooks);
    // As llama-perplexity: the chunk's first token becomes BOS when this model's tokenizer adds one.
    std::optional<std::int32_t> bos;
    try {
        const auto tokenizer = core::loadTokenizer(model->path());
        if (tokenizer->addsBos()) bos = tokenizer->bosId();
    } catch (const core::Error&) {
        // A model without a tokenizer: the file's tokens are taken as they are.
    }
    const core::LlamaKldResult r = core::compareWithLlamaLogits(lm, base, bos, opts.maxWindows, ctx.job);

    nlohmann::json j{{"model", model->path().string()}, {"kl_divergence_base", baseFile}, {"scoring", "llama.cpp"}};
    if (quant) {
        j["recipe"] = quant->job.toJson();
        j["bits_per_weight"] = quant->bitsPerWeight;
    }
    j["llama_kld"] = r.toJson();
    j.update(r.candidate.toJson());
    if (!ctx.json) {
        const auto& k = r.kld;
        std::printf("model        %s\nbase         %s (%lld chunks of %d tokens)\n"
                    "PPL(Q)       %.6f\nPPL(base)    %.6f\nln(PPL(Q)/PPL(base)) %.6f\n"
                    "KLD          mean %.6f ± %.6f, median %.6f, p99 %.6f, p99.9 %.6f, max %.6f\n"
                    "same top p   %.3f %%\nRMS Δp       %.3f %%\n",
                    model->path().c_str(), baseFile.c_str(), r.candidate.windows, r.candidate.ctx,
                    r.candidate.perplexity, r.basePerplexity, r.logPplRatio, k.mean, k.meanStdError, k.median, k.p99,
                    k.p999, k.max, 100 * k.top1Agreement, 100 * r.rmsDeltaP);
    }
    return j;
}

} // namespace qs::cli
