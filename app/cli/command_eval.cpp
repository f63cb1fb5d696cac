// SPDX-License-Identifier: MIT
#include "cli_params.h"
#include "command_eval_classifier.h"
#include "command_eval_llama.h"
#include "commands.h"
#include "data/calib_data.h"
#include "data/llama_cpp_chunks.h"
#include "eval/llama_kld.h"
#include "data/token_data.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "eval/layer_major.h"
#include "eval/perplexity.h"
#include "io/file_util.h"
#include "io/npy.h"
#include "nn/causal_lm.h"
#include "tensor/gemm_bf16.h"
#include "base/error.h"
#include "tokenizer/tokenizer.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

namespace qs::cli {

std::string evalUsage(const CliContext& ctx) {
    std::string s =
        "quantscope-cli eval MODEL --data FILE [--ctx N] [--windows N]\n"
        "                   [--method M spec flags [--calib FILE [--calib-windows N]]]\n"
        "                   [--act-quant Q] [--kv-quant Q] [--recipe R.json] [--kld] [--low-memory]\n"
        "                   [--scoring quantscope|llama.cpp] [--kl-divergence-base FILE] [--compute f32|bf16]\n"
        "                   [--json]\n"
        "  Perplexity of MODEL on FILE: non-overlapping windows of --ctx tokens, each its own sequence;\n"
        "  the first token of a window is not scored.\n\n"
        "  --scoring llama.cpp  llama-perplexity's protocol instead: the text with one trailing newline\n"
        "                   removed, BOS first when the tokenizer adds one; --windows counts chunks of --ctx\n"
        "                   tokens, each its own sequence starting with BOS (when added); only the second\n"
        "                   half of each chunk is scored; at least 2 x ctx tokens. Our figures then sit\n"
        "                   beside llama-perplexity's for the same file (e.g. an exported GGUF)\n"
        "  --kl-divergence-base FILE  llama-perplexity's log-probability file. With --kld: KL divergence of\n"
        "                   MODEL (with the quantization flags, if any) against it, with llama.cpp's\n"
        "                   statistics (no --data: the file holds the tokens). Without --kld: writes FILE\n"
        "                   from MODEL on --data (llama.cpp scoring), as llama-perplexity\n"
        "                   --kl-divergence-base FILE does\n"
        "  --data FILE      UTF-8 text (tokenized with the model's tokenizer as one string, no BOS) or a\n"
        "                   token-id .npy (int32/int64, any shape, read in C order)\n"
        "  --ctx N          tokens per window (default 128)\n"
        "  --windows N      evaluate the first N windows (default: every full window)\n"
        "  --act-quant Q    fake-quantize the input of every decoder Linear per token, Q =\n"
        "                   FORMAT[:token|tensor|group][:N][:sym|asym][:pNN.N] (pNN.N: clip to that percentile; default token: one scale per token;\n"
        "                   group N: groups of N features of a token)\n"
        "  --kv-quant Q     fake-quantize K (after RoPE) and V, Q as above; token = one scale per token\n"
        "                   and KV head\n"
        "  --recipe R.json  a recipe file (export --as recipe) instead of the quantization flags\n"
        "  --kld            KL divergence against the fp32 model (always reported with a quantization)\n"
        "  --compute bf16   every decoder Linear and the LM head on bfloat16 operands with float32 sums\n"
        "                   (AMX tiles where the processor has them), as bf16 inference runs: inputs\n"
        "                   rounded to bf16 at each product, weights once; the quantized and the reference\n"
        "                   model alike. Default f32: float32 products\n"
        "  --calib FILE     calibration text/.npy for calibrated methods (gptq): its first --calib-windows\n"
        "                   non-overlapping windows of --ctx tokens, each its own sequence\n"
        "  --calib-windows N  calibration windows (default 128)\n"
        "  --low-memory     layer by layer: embed every window, then convert (and quantize) one decoder\n"
        "                   layer's weights at a time, run every window's hidden state through it and free\n"
        "                   it. Peak memory: one layer plus embedding and head plus the hidden states of\n"
        "                   all windows (twice when comparing; calibrated methods add the calibration\n"
        "                   windows' hidden states, calib-windows x ctx x hidden floats), instead of the\n"
        "                   whole float32 model (twice with a quantization). Same numbers; any method\n"
        "                   (gptq & co. quantize each layer from the calibration states entering it, as\n"
        "                   the normal path does); transforms are folded one layer at a time\n"
        "                   (smoothquant and resq from the calibration windows carried through the\n"
        "                   transformed, unquantized layers: one more calib-windows x ctx x hidden)\n\n"
        "  With --method/--format (weights), --act-quant or --kv-quant the quantized model is compared\n"
        "  with the fp32 one: reference perplexity, delta, KL divergence (mean, median, p99, max) and\n"
        "  top-1 agreement.\n\n";
    return s + evalClassifierUsage() + quantizationHelp(ctx.registries);
}

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

} // namespace

nlohmann::json runEval(ArgList& args, CliContext& ctx) {
    // An .onnx MODEL is an image classifier: accuracy instead of perplexity.
    if (isClassifierEval(args)) return runEvalClassifier(args, ctx);
    const auto data = args.takeOption("data");
    // --ctx, --windows, --calib-windows: the evaluation schema the GUI's form and sweeps use too.
    const nlohmann::json evalFlags = takeSchemaFlags(args, core::evalOptionsSchema());
    const core::EvalOptions evalOpts = core::evalOptionsFromJson(evalFlags, "eval");
    const bool kld = args.takeFlag("kld");
    const bool lowMemory = args.takeFlag("low-memory");
    const std::string scoring = args.takeOption("scoring").value_or("quantscope");
    if (scoring != "quantscope" && scoring != "llama.cpp")
        throw core::Error("--scoring " + scoring + ": expected quantscope or llama.cpp");
    const auto klBase = args.takeOption("kl-divergence-base");
    const auto calibFile = args.takeOption("calib");
    if (evalFlags.contains("calib_windows") && !calibFile) throw core::Error("eval: --calib-windows needs --calib FILE");
    const long long calibWindows =
        core::validateParams(core::evalOptionsSchema(), evalFlags, "eval").at("calib_windows").get<long long>();
    const core::Recipe recipe = takeRecipe(args, ctx.registries, "eval", true);
    const bool quantizeWeights = recipe.quantizeWeights;
    const core::QuantJob& job = recipe.job;
    core::ForwardHooks hooks;
    hooks.activation = recipe.activation;
    hooks.kvCache = recipe.kvCache;
    hooks.bf16Products = evalOpts.bf16Products;
    if (hooks.bf16Products && (lowMemory || klBase))
        throw core::Error("eval: --compute bf16 runs the whole model from --data (no --low-memory or "
                          "--kl-divergence-base)");
    const auto path = args.takePositional();
    if (!path) throw core::Error("eval: missing MODEL");
    if (klBase && kld) {
        args.expectEmpty();
        if (lowMemory) throw core::Error("eval: --kl-divergence-base runs the whole model (no --low-memory)");
        return evalAgainstLlamaLogits(*path, *klBase, recipe, evalOpts, calibFile, calibWindows, ctx);
    }
    if (!data) throw core::Error("eval: missing --data FILE");
    args.expectEmpty();
    const bool compare = quantizeWeights || hooks.activation || hooks.kvCache;
    if (klBase && (compare || lowMemory))
        throw core::Error("eval: --kl-divergence-base FILE without --kld writes FILE from the unquantized model; "
                          "compare a quantized one against it with --kld");
    if (kld && !compare)
        throw core::Error("eval: --kld compares a quantized model with the fp32 one: give --method/--format, "
                          "--act-quant or --kv-quant");
    if (lowMemory && quantizeWeights) core::checkLayerMajorRecipe(job, ctx.registries);

    const auto model = core::openModel(*path);
    std::string source;
    std::vector<std::int32_t> tokens;
    std::vector<std::int32_t> stream; // llama.cpp scoring: the tokens before BOS replaced each chunk's first
    core::EvalOptions opts = evalOpts;
    if (scoring == "llama.cpp" || klBase) {
        std::optional<std::int32_t> bos;
        stream = core::readLlamaCppTokens(*data, model->path(), source, bos);
        core::LlamaCppChunks chunks = core::llamaCppChunks(stream, bos, opts);
        if (klBase) {
            const core::CausalLm lm(*model, {}, ctx.job);
            const core::PerplexityResult r = core::saveLlamaLogits(lm, chunks, stream, *klBase, ctx.job);
            if (!ctx.json)
                std::printf("wrote %s: %lld chunks of %d tokens (llama-perplexity's log-probabilities), "
                            "perplexity %.6f\n", klBase->c_str(), r.windows, r.ctx, r.perplexity);
            nlohmann::json out = r.toJson();
            out["model"] = model->path().string();
            out["kl_divergence_base"] = *klBase;
            out["scoring"] = scoring;
            return out;
        }
        tokens = std::move(chunks.tokens);
        opts = chunks.opts;
    } else {
        tokens = core::readTokenData(*data, model->path(), source);
    }
    core::splitWindows(tokens, opts); // validates ctx and the data size before the expensive part

    nlohmann::json j{{"model", model->path().string()},
                     {"data", std::filesystem::path(*data).string()},
                     {"data_tokens", tokens.size()},
                     {"ctx", opts.ctx},
                     {"scoring", scoring}};
    core::PerplexityResult result;
    std::optional<core::ComparisonResult> comparison;
    std::optional<core::ModelQuantResult> quant;
    std::size_t peakWeightBytes = 0;
    std::optional<core::CalibrationData> calib;
    if (quantizeWeights && calibFile) calib = core::loadCalibrationData(*calibFile, model->path(), opts.ctx, calibWindows);
    if (lowMemory) {
        std::optional<core::LayerMajorCandidate> candidate;
        if (compare) {
            candidate.emplace();
            if (quantizeWeights) candidate->weights = job;
            candidate->hooks = hooks;
            candidate->registries = &ctx.registries;
            candidate->calibration = calib ? &*calib : nullptr;
        }
        core::LayerMajorResult r = core::evaluateLayerMajor(*model, tokens, opts, candidate, ctx.job);
        result = r.perplexity;
        comparison = std::move(r.comparison);
        quant = std::move(r.quant);
        peakWeightBytes = r.peakWeightBytes;
    } else {
        core::CausalLm reference(*model, {}, ctx.job);
        reference.setHooks({.bf16Products = hooks.bf16Products}); // the reference is unquantized
        if (!compare) {
            result = core::evaluatePerplexity(reference, tokens, opts, ctx.job);
        } else {
            // Each quantized weight goes into the candidate as it is made: held as codes where its
            // grid allows, never beside float32 copies of every other.
            core::CausalLm candidate(reference, {});
            if (quantizeWeights)
                quant = core::quantizeModel(*model, ctx.registries, job, ctx.job, false, {},
                                            calib ? &*calib : nullptr, &candidate);
            // Transforms (rotate, resq) add their online basis changes and subspace-aware quantizers.
            candidate.setHooks(quant ? quant->hooks(hooks) : hooks);
            comparison = core::compareWithReference(reference, candidate, tokens, opts, ctx.job);
            result = comparison->candidate;
        }
        peakWeightBytes = reference.peakWeightBytes(); // the candidate shares the reference's count
    }
    if (compare) {
        nlohmann::json used = nlohmann::json::object();
        if (quant) {
            if (!quant->calibration.is_null()) j["calibration"] = quant->calibration;
            used = quant->job.toJson();
            j["bits_per_weight"] = quant->bitsPerWeight;
            if (quant->transformed) j["transforms"] = quant->transformed->applied;
        }
        if (hooks.activation) used["activation"] = hooks.activation->toJson();
        if (hooks.kvCache) used["kv_cache"] = hooks.kvCache->toJson();
        j["recipe"] = used;
        j["reference"] = {{"perplexity", comparison->reference.perplexity},
                          {"mean_nll", comparison->reference.meanNll}};
        j["delta_perplexity"] = comparison->deltaPerplexity();
        j["kld"] = comparison->kld.toJson();
    }
    j["low_memory"] = lowMemory;
    j["compute"] = hooks.bf16Products ? "bf16" : "f32";
    if (hooks.bf16Products) j["bf16_tiles"] = core::bf16TilesAvailable();
    j["peak_weight_bytes"] = peakWeightBytes;
    j.update(result.toJson());

    if (!ctx.json) {
        const auto& cfg = model->config();
        std::cout << "model        " << model->path().string() << " (" << cfg.modelType << ", "
                  << model->parameterCount() << " parameters)\n"
                  << "data         " << *data << ": " << source << ", " << tokens.size() << " tokens\n"
                  << "windows      " << result.windows << " x " << opts.ctx << " tokens, "
                  << result.tokensScored << " scored\n";
        if (hooks.bf16Products)
            std::cout << "products     bf16 operands, float32 sums"
                      << (core::bf16TilesAvailable() ? " (AMX tiles)\n" : " (no AMX here: float32 products of the rounded operands)\n");
        if (comparison) {
            std::cout << "recipe       ";
            if (quant)
                std::cout << core::Recipe{true, job, {}, {}}.label() << fmt(" (%.3f bits/weight)", quant->bitsPerWeight);
            if (hooks.activation)
                std::cout << (quant ? ", " : "") << "activations " << hooks.activation->label();
            if (hooks.kvCache)
                std::cout << (quant || hooks.activation ? ", " : "") << "KV " << hooks.kvCache->label();
            const auto& k = comparison->kld;
            std::cout << "\nperplexity   " << fmt("%.6f", result.perplexity) << "   fp32 "
                      << fmt("%.6f", comparison->reference.perplexity) << "   delta "
                      << fmt("%+.6f", comparison->deltaPerplexity())
                      << fmt(" (%+.3f%%)",
                             100.0 * comparison->deltaPerplexity() / comparison->reference.perplexity)
                      << "\nmean NLL     " << fmt("%.6f", result.meanNll) << " nats (fp32 "
                      << fmt("%.6f", comparison->reference.meanNll) << ")\n"
                      << "KLD          mean " << fmt("%.6f", k.mean) << fmt(" ± %.6f", k.meanStdError)
                      << ", median " << fmt("%.6f", k.median) << ", p99 " << fmt("%.6f", k.p99) << ", max "
                      << fmt("%.6f", k.max) << "\ntop-1 agree  " << fmt("%.2f %%", 100.0 * k.top1Agreement)
                      << '\n';
        } else {
            std::cout << "perplexity   " << fmt("%.6f", result.perplexity) << "\nmean NLL     "
                      << fmt("%.6f", result.meanNll) << " nats\n";
        }
        std::cout << "weights      "
                  << fmt("peak %.1f MiB float32", static_cast<double>(peakWeightBytes) / (1 << 20))
                  << (lowMemory ? " (layer by layer)\n" : "\n");
        std::cout << "time         " << fmt("%.2f s", result.seconds)
                  << fmt(" (%.0f tokens/s",
                         result.seconds > 0 ? result.windows * opts.ctx / result.seconds : 0.0)
                  << (comparison ? " through both models)\n" : ")\n");
    }
    return j;
}

} // namespace qs::cli
