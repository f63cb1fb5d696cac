// SPDX-License-Identifier: MIT
// quantscope-cli grad: the loss and its gradient for every weight, optionally through a recipe's
// fake-quantized model (straight-through).
#include "cli_params.h"
#include "commands.h"
#include "data/calib_data.h"
#include "eval/layer_major.h"
#include "grad_inputs.h"
#include "io/safetensors.h"
#include "quant/model_quantizer.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>

namespace qs::cli {

std::string gradUsage(const CliContext& ctx) {
    return "quantscope-cli grad MODEL --data FILE [--ctx N] [--windows N] [--recipe R.json | --method M spec\n"
           "                   flags [--calib FILE [--calib-windows N]]] [--act-quant Q] [--kv-quant Q]\n"
           "                   [--out G.safetensors] [--float64] [--recompute] [--low-memory] [--json]\n"
           "  The mean next-token NLL over the scored tokens of --data's windows (eval's protocol) and its\n"
           "  gradient with respect to every floating-point weight (norms, embeddings and head included).\n"
           "  With a recipe the model is the fake-quantized one and the gradient is dL/dW at the quantized\n"
           "  weights (straight-through); activation and KV fake quantization pass gradients straight\n"
           "  through inside their clipping range and cut them where the grid clipped. Rotations and ResQ\n"
           "  pass gradients back through their basis changes' adjoints (their own activation and KV\n"
           "  quantizers straight through).\n\n" +
           gradFlagsHelp() +
           "  --out FILE       write every gradient to a safetensors file (float32, stored names and shapes)\n"
           "  --calib FILE     calibration data for calibrated methods (gptq), --calib-windows N (default 128)\n"
           "  --low-memory     one decoder layer's float32 weights at a time: every layer's input is kept for\n"
           "                   every window, each layer is loaded for the forward half and again for the\n"
           "                   backward half (recomputed from its input); the same numbers. Weight recipes\n"
           "                   are quantized layer by layer: data-free methods without transforms only.\n"
           "                   --out spools each gradient to FILE.part as its layer finishes.\n\n"
           "  JSON: loss, perplexity, tokens_scored, grad_norms {weight: L2 norm}, grad_norm (all weights),\n"
           "  peak_activation_bytes, seconds; with --low-memory also peak_weight_bytes\n\n" +
           quantizationHelp(ctx.registries);
}

namespace {

double squaredNorm(const std::vector<float>& g) {
    double sq = 0;
    for (float x : g) sq += static_cast<double>(x) * x;
    return sq;
}

// Gradients as they come (layer-major: last layer first), spooled to a file so that only one is
// held; written out as safetensors (sorted by name) one tensor at a time at the end.
class GradientSpool {
public:
    explicit GradientSpool(std::filesystem::path path) : m_path(std::move(path)), m_file(m_path, std::ios::binary) {
        if (!m_file) throw core::Error(m_path.string() + ": cannot create the gradient spool file");
    }
    ~GradientSpool() {
        m_file.close();
        std::error_code ignored;
        std::filesystem::remove(m_path, ignored);
    }
    GradientSpool(const GradientSpool&) = delete;
    GradientSpool& operator=(const GradientSpool&) = delete;

    void add(const std::string& name, const std::vector<float>& g) {
        m_parts[name] = {m_offset, g.size()};
        m_file.write(reinterpret_cast<const char*>(g.data()), static_cast<std::streamsize>(g.size() * sizeof(float)));
        if (!m_file) throw core::Error(m_path.string() + ": cannot write the gradient of '" + name + "'");
        m_offset += g.size() * sizeof(float);
    }
    void writeSafetensors(const std::filesystem::path& out, const core::Model& model) {
        m_file.flush();
        std::vector<core::SafetensorsWriteItem> items;
        for (const auto& [name, part] : m_parts) {
            const core::WeightInfo* w = model.find(name);
            const core::Shape shape = w ? w->shape : core::Shape{static_cast<std::int64_t>(part.second)};
            const std::string key = name;
            items.push_back({key, core::DType::F32, shape, [this, key, shape] {
                                 const auto [offset, count] = m_parts.at(key);
                                 std::vector<float> g(count);
                                 std::ifstream in(m_path, std::ios::binary);
                                 in.seekg(static_cast<std::streamoff>(offset));
                                 in.read(reinterpret_cast<char*>(g.data()), static_cast<std::streamsize>(count * sizeof(float)));
                                 if (!in) throw core::Error(m_path.string() + ": cannot read back the gradient of '" + key + "'");
                                 return core::Tensor::fromFloats(shape, g);
                             }});
        }
        core::writeSafetensorsStreaming(out, items, {{"format", "pt"}, {"content", "quantscope gradient dL/dW"}});
    }

private:
    std::filesystem::path m_path;
    std::ofstream m_file;
    std::map<std::string, std::pair<std::uint64_t, std::size_t>> m_parts; // offset in bytes, values
    std::uint64_t m_offset = 0;
};

// grad --low-memory: the layer-major backward pass, weights quantized layer by layer when the
// recipe quantizes any.
nlohmann::json runGradLowMemory(GradInputs& in, const core::Recipe& recipe, const std::optional<std::string>& out,
                                CliContext& ctx, const core::ForwardHooks& hooks, core::LossGradient& g,
                                std::map<std::string, double>& squares) {
    nlohmann::json j = nlohmann::json::object();
    const core::JobContext quiet{{}, ctx.job.cancel};
    std::optional<core::ModelQuantizer> quantizer;
    if (recipe.quantizeWeights) {
        if (!recipe.job.transforms.empty())
            throw core::Error("grad --low-memory: transforms need the whole model's statistics; run without --low-memory");
        quantizer.emplace(*in.model, ctx.registries, recipe.job, quiet);
        if (quantizer->calibrated())
            throw core::Error("grad --low-memory quantizes each layer on its own: method " + quantizer->calibratedMethod() +
                              " needs calibration data carried through the model; use a data-free method (rtn)");
        for (std::size_t t = 0; t < quantizer->targets().size(); ++t)
            if (quantizer->targets()[t]->layerIndex < 0 && !quantizer->assignment(t).keep)
                throw core::Error("grad --low-memory: weight '" + quantizer->targets()[t]->name +
                                  "' outside the decoder layers is quantized; keep it or run without --low-memory");
    }
    std::set<int> accounted; // layers whose quantization the accounting has seen (each is loaded twice)
    auto loader = [&](core::CausalLm& lm, int layer) {
        std::map<std::string, std::vector<float>> replaced;
        if (quantizer) {
            const bool first = accounted.insert(layer).second;
            std::optional<core::ModelQuantizer> again;
            if (!first) again.emplace(*in.model, ctx.registries, recipe.job, quiet);
            core::ModelQuantizer& q = first ? *quantizer : *again;
            for (const core::WeightInfo* w : q.targets())
                if (w->layerIndex == layer) replaced[w->name] = q.quantizeWeight(*w, nullptr, w->name);
        }
        lm.loadLayer(layer, std::move(replaced));
        core::dropLayerPages(*in.model, layer);
    };
    core::CausalLm lm = core::CausalLm::layerByLayer(*in.model);
    lm.setHooks(hooks);
    std::optional<GradientSpool> spool;
    if (out) spool.emplace(*out + ".part");
    g = core::lossGradientLayerMajor(
        lm, in.windows, in.eval.scoreFrom,
        [&](const std::string& name, std::vector<float> gradient) {
            squares[name] = squaredNorm(gradient);
            if (spool) spool->add(name, gradient);
        },
        loader, in.grad, ctx.job);
    if (spool) spool->writeSafetensors(*out, *in.model);
    if (quantizer) {
        const core::ModelQuantResult q = quantizer->finish(nullptr);
        j["recipe"] = recipe.job.toJson();
        j["bits_per_weight"] = q.bitsPerWeight;
    }
    j["peak_weight_bytes"] = lm.peakWeightBytes();
    return j;
}


// The figures both ways of running share: loss, per-weight gradient norms (from their squares, in
// the order given), the hooks, timing and memory; the text report when not --json.
nlohmann::json report(nlohmann::json j, const GradInputs& in, const core::LossGradient& g,
                      const std::vector<std::pair<std::string, double>>& squares, const core::ForwardHooks& hooks,
                      bool lowMemory, const std::optional<std::string>& out, const CliContext& ctx) {
    nlohmann::json norms = nlohmann::json::object();
    double total = 0;
    for (const auto& [name, sq] : squares) {
        norms[name] = std::sqrt(sq);
        total += sq;
    }
    if (out) j["out"] = *out;
    if (hooks.activation) j["activation"] = hooks.activation->toJson();
    if (hooks.kvCache) j["kv_cache"] = hooks.kvCache->toJson();
    j["loss"] = g.loss;
    j["perplexity"] = std::exp(g.loss);
    j["tokens_scored"] = g.tokensScored;
    j["grad_norms"] = norms;
    j["grad_norm"] = std::sqrt(total);
    j["float64"] = in.grad.float64;
    j["recompute"] = lowMemory || in.grad.recompute;
    j["low_memory"] = lowMemory;
    j["peak_activation_bytes"] = g.peakActivationBytes;
    j["seconds"] = g.seconds;
    if (!ctx.json) {
        std::printf("model        %s%s\ndata         %s: %zu windows x %d tokens, %lld scored\n",
                    in.model->path().string().c_str(), lowMemory ? " (one layer at a time)" : "", in.dataPath.c_str(),
                    in.windows.size(), in.eval.ctx, g.tokensScored);
        std::printf("loss         %.8f (perplexity %.6f)\ngrad norm    %.6g over %zu weights\n", g.loss,
                    std::exp(g.loss), std::sqrt(total), squares.size());
        for (const auto& [name, sq] : squares) std::printf("  %-52s %.6g\n", name.c_str(), std::sqrt(sq));
        std::printf("time         %.2f s, activations %.1f MiB", g.seconds,
                    static_cast<double>(g.peakActivationBytes) / (1 << 20));
        if (j.contains("peak_weight_bytes"))
            std::printf(", float32 weights %.1f MiB", static_cast<double>(j["peak_weight_bytes"].get<std::size_t>()) / (1 << 20));
        std::printf("%s\n", out ? (", wrote " + *out).c_str() : "");
    }
    return j;
}

} // namespace

nlohmann::json runGrad(ArgList& args, CliContext& ctx) {
    GradInputs in = takeGradFlags(args, "grad");
    const auto out = args.takeOption("out");
    const auto calibFile = args.takeOption("calib");
    const auto calibWindowsFlag = args.takeOption("calib-windows");
    const bool lowMemory = args.takeFlag("low-memory");
    const core::Recipe recipe = takeRecipe(args, ctx.registries, "grad", true);
    openGradInputs(in, args, "grad");

    nlohmann::json j = gradInputsJson(in);
    core::ForwardHooks hooks;
    hooks.activation = recipe.activation;
    hooks.kvCache = recipe.kvCache;
    std::vector<std::pair<std::string, double>> squares;
    if (lowMemory) {
        if (in.grad.float64) throw core::Error("grad: --float64 runs on the whole model (no --low-memory)");
        if (calibFile) throw core::Error("grad --low-memory: --calib is for calibrated methods, which need the whole model");
        core::LossGradient g;
        std::map<std::string, double> byName;
        j.update(runGradLowMemory(in, recipe, out, ctx, hooks, g, byName));
        squares.assign(byName.begin(), byName.end());
        return report(std::move(j), in, g, squares, hooks, true, out, ctx);
    }
    std::map<std::string, std::vector<float>> replaced;
    std::optional<core::ModelQuantResult> quant;
    if (recipe.quantizeWeights) {
        std::optional<core::CalibrationData> calib;
        if (calibFile) {
            const int calibWindows = calibWindowsFlag ? std::stoi(*calibWindowsFlag) : 128;
            calib = core::loadCalibrationData(*calibFile, in.model->path(), in.eval.ctx, calibWindows);
        }
        quant = core::quantizeModel(*in.model, ctx.registries, recipe.job, ctx.job, true, {}, calib ? &*calib : nullptr);
        replaced = std::move(quant->weights);
    }
    core::CausalLm lm(*in.model, std::move(replaced), ctx.job);
    lm.setHooks(quant ? quant->hooks(hooks) : hooks);

    const core::LossGradient g = core::lossGradient(lm, in.windows, in.eval.scoreFrom, in.grad, ctx.job);
    for (std::size_t i = 0; i < g.names.size(); ++i) squares.emplace_back(g.names[i], squaredNorm(g.gradients[i]));
    if (out) {
        std::vector<std::pair<std::string, core::Tensor>> tensors;
        for (std::size_t i = 0; i < g.names.size(); ++i) {
            const core::WeightInfo* w = in.model->find(g.names[i]);
            const core::Shape shape = w ? w->shape : core::Shape{static_cast<std::int64_t>(g.gradients[i].size())};
            tensors.emplace_back(g.names[i], core::Tensor::fromFloats(shape, g.gradients[i]));
        }
        core::writeSafetensors(*out, tensors, {{"format", "pt"}, {"content", "quantscope gradient dL/dW"}});
    }
    if (quant) {
        j["recipe"] = quant->job.toJson();
        j["bits_per_weight"] = quant->bitsPerWeight;
    }
    return report(std::move(j), in, g, squares, hooks, false, out, ctx);
}

} // namespace qs::cli
