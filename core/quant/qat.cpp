// SPDX-License-Identifier: MIT
#include "quant/qat.h"

#include "model/weight_layout.h"
#include "base/error.h"
#include "nn/causal_lm_grad.h"
#include "quant/fake_quant.h"
#include "quant/learned_scales.h"
#include "transform/model_transform.h"
#include "transform/transform_pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <random>

namespace qs::core {

QatOptions QatOptions::fromJson(const nlohmann::json& p) {
    QatOptions o;
    o.steps = p.at("steps").get<int>();
    o.lr = p.at("lr").get<double>();
    o.batch = p.at("train_batch").get<int>();
    o.seed = p.at("seed").get<std::uint64_t>();
    o.init = p.at("init").get<std::string>();
    o.holdout = p.at("holdout").get<double>();
    o.evalEvery = p.at("eval_every").get<int>();
    o.learnScales = p.at("scales").get<std::string>() == "learned";
    o.scaleLr = p.at("scale_lr").get<double>();
    return o;
}

const ParamSchema& QatQuantizer::params() const {
    static const ParamSchema schema{
        {"steps", ParamType::Int, 300, 1, 1000000, {}, "Adam steps", "Steps"},
        {"lr", ParamType::Float, 1e-4, 0.0, 1.0, {}, "peak learning rate, cosine decay to 0 over the steps",
         "Learning rate"},
        {"train_batch", ParamType::Int, 8, 1, 4096, {}, "windows of ctx tokens per step, drawn at random offsets", "Batch"},
        {"seed", ParamType::Int, 0, 0, 2147483647, {}, "seed of the batch draws", "Seed"},
        {"init", ParamType::Choice, "rtn", 1, 0, {"rtn", "gptq"},
         "start from the float weights (rtn) or from GPTQ's on the same data (gptq)", "Start"},
        {"holdout", ParamType::Float, 0.05, 0.0, 0.5, {},
         "share of the calibration windows held out to keep the best weights (0: keep the last)", "Held out"},
        {"eval_every", ParamType::Int, 25, 1, 1000000, {}, "steps between held-out evaluations", "Eval every"},
        {"scales", ParamType::Choice, "fixed", 1, 0, {"fixed", "learned"},
         "refit each run's scale to the latent weights every step (fixed), or train it too (learned, LSQ)", "Scales"},
        {"scale_lr", ParamType::Float, 1e-3, 0.0, 1.0, {}, "peak learning rate of the learned log-scales",
         "Scale learning rate"},
    };
    return schema;
}

void QatQuantizer::quantize(const WeightMatrix& w, const QuantSpec&, const nlohmann::json&, float*,
                            const JobContext&) const {
    throw Error("qat trains the whole model at once, not weight '" + std::string(w.name) +
                "' alone: run it through a whole-model quantization (quantize, eval, sweep; not --low-memory)");
}

namespace {

// A quantized weight of the training: its spec's fake quantization of [out, in] with the run scales
// fitted to it (fixed) or the learned ones.
struct Target {
    const WeightInfo* info;
    QuantSpec spec;

    std::vector<float> quantizedOutIn(const std::vector<float>& stored, const RunScales* learned) const {
        std::vector<float> w = outInFromStored(*info, stored);
        if (learned)
            applyScales(w.data(), *learned, w.data());
        else
            fakeQuantize(w.data(), info->matrixRows(), info->matrixCols(), spec, w.data());
        return w;
    }
    std::vector<float> quantize(const std::vector<float>& stored, const RunScales* learned) const {
        return storedFromOutIn(*info, quantizedOutIn(stored, learned));
    }
};

// Adam (Kingma & Ba) with bias correction, float32 state, element by element (thread-count invariant).
struct Adam {
    static constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f;
    std::vector<std::vector<float>> m, v;

    void step(std::vector<std::vector<float>*>& params, const std::vector<std::vector<float>>& grads, int t, double lr) {
        if (m.empty())
            for (const auto* p : params) {
                m.emplace_back(p->size(), 0.0f);
                v.emplace_back(p->size(), 0.0f);
            }
        const float c1 = static_cast<float>(1.0 - std::pow(kBeta1, t));
        const float c2 = static_cast<float>(1.0 - std::pow(kBeta2, t));
        const float rate = static_cast<float>(lr);
        for (std::size_t i = 0; i < params.size(); ++i) {
            float* w = params[i]->data();
            float* mi = m[i].data();
            float* vi = v[i].data();
            const float* g = grads[i].data();
            const auto n = static_cast<std::int64_t>(params[i]->size());
#pragma omp parallel for schedule(static) if (n > (1 << 16))
            for (std::int64_t j = 0; j < n; ++j) {
                mi[j] = kBeta1 * mi[j] + (1.0f - kBeta1) * g[j];
                vi[j] = kBeta2 * vi[j] + (1.0f - kBeta2) * g[j] * g[j];
                w[j] -= rate * (mi[j] / c1) / (std::sqrt(vi[j] / c2) + kEps);
            }
        }
    }
};

// How far the learned scales moved from their fit (|log(s / s_fit)|) and the share of weights their
// grids clip: the evidence of what LSQ learned.
nlohmann::json learnedScaleSummary(const std::map<std::string, RunScales>& fitted, const std::map<std::string, RunScales>& learned,
                                   const std::map<std::string, std::vector<float>>& weights,
                                   const std::map<std::string, Target>& targets) {
    double sumAbs = 0, maxAbs = 0, clipped = 0, elements = 0;
    std::size_t count = 0;
    for (const auto& [name, s] : learned) {
        const std::vector<ScaleParams>& before = fitted.at(name).params;
        for (std::size_t j = 0; j < s.params.size(); ++j) {
            if (before[j].scale <= 0.0f || s.params[j].scale <= 0.0f) continue;
            const double d = std::fabs(std::log(static_cast<double>(s.params[j].scale) / before[j].scale));
            sumAbs += d;
            maxAbs = std::max(maxAbs, d);
            ++count;
        }
        // Clipped elements are those whose straight-through gradient is cut: dL/dq = 1 shows them.
        const std::vector<float> w = outInFromStored(*targets.at(name).info, weights.at(name));
        std::vector<float> q(w.size()), g(w.size(), 1.0f);
        std::vector<double> unused;
        applyScales(w.data(), s, q.data());
        scaleGradients(w.data(), q.data(), g.data(), s, g.data(), unused);
        for (float x : g) clipped += x == 0.0f ? 1 : 0;
        elements += static_cast<double>(w.size());
    }
    return {{"scales", count},
            {"mean_abs_log_change", count ? sumAbs / static_cast<double>(count) : 0.0},
            {"max_abs_log_change", maxAbs},
            {"clipped_share", elements > 0 ? clipped / elements : 0.0}};
}

} // namespace

ModelQuantResult trainQuantized(const Model& model, const MethodRegistries& registries, const QuantJob& job,
                                const JobContext& ctx, bool keepWeights,
                                const std::function<void(const LayerQuantResult&)>& onLayer,
                                const CalibrationData& calibration) {
    const auto t0 = std::chrono::steady_clock::now();
    QuantJob validated = job;
    for (auto& t : validated.transforms)
        t.params = validateParams(registries.transforms.get(t.name, "transform").params(), t.params,
                                  "transform " + t.name);
    const nlohmann::json params =
        validateParams(registries.quantizers.get(job.method, "method").params(), job.methodParams, "qat");
    const QatOptions o = QatOptions::fromJson(params);

    // The recipe with RTN in place of qat: its specs are the training's fake quantization and its
    // final pass quantizes the trained weights exactly as the training's forward pass did.
    QuantJob rtnJob = validated;
    rtnJob.method = "rtn";
    rtnJob.methodParams = nlohmann::json::object();
    for (LayerRule& r : rtnJob.layers) {
        if (r.assignment.keep) continue;
        if (r.assignment.method != "qat")
            throw Error("qat: layer rule '" + r.match + "' names method " + r.assignment.method +
                        "; qat trains every quantized weight together (rules may change a format or keep a weight)");
        r.assignment.method = "rtn";
        r.assignment.methodParams = nlohmann::json::object();
    }

    // Training and held-out windows.
    const std::size_t n = calibration.windows.size();
    const std::size_t held = o.holdout > 0 ? std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(o.holdout * n))) : 0;
    if (n < held + 1)
        throw Error("qat: " + std::to_string(n) + " calibration windows leave none to train on after holding out " +
                    std::to_string(held));
    // Held-out windows spread evenly over the text (its tail alone may be another kind of text).
    // Training draws a window at any token offset inside a run of consecutive training windows (the
    // calibration text between held-out windows), so batches rarely repeat a sequence.
    std::vector<std::span<const std::int32_t>> train, heldOut;
    std::vector<std::vector<std::int32_t>> runs(1);
    for (std::size_t i = 0, taken = 0; i < n; ++i) {
        const bool hold = taken < held && (i + 1) * held >= (taken + 1) * n;
        (hold ? heldOut : train).emplace_back(calibration.windows[i]);
        taken += hold ? 1 : 0;
        if (hold) {
            if (!runs.back().empty()) runs.emplace_back();
        } else {
            runs.back().insert(runs.back().end(), calibration.windows[i].begin(), calibration.windows[i].end());
        }
    }
    if (runs.back().empty()) runs.pop_back();
    const auto ctxTokens = static_cast<std::size_t>(calibration.ctx);
    std::size_t starts = 0; // every offset at which a whole window fits inside a run
    for (const auto& r : runs) starts += r.size() - ctxTokens + 1;
    auto drawWindow = [&](std::mt19937_64& rng) {
        std::size_t k = static_cast<std::size_t>(rng() % starts);
        for (const auto& r : runs) {
            const std::size_t here = r.size() - ctxTokens + 1;
            if (k < here) return std::span<const std::int32_t>(r.data() + k, ctxTokens);
            k -= here;
        }
        return std::span<const std::int32_t>(runs.back().data(), ctxTokens); // not reached
    };

    const JobContext quiet{{}, ctx.cancel};
    // Transforms first (rotate+qat): training runs in their basis, through their online rotations,
    // and the result carries them like any transformed method's.
    std::shared_ptr<TransformedModel> transformed;
    if (!validated.transforms.empty()) {
        transformed = std::make_shared<TransformedModel>(
            applyTransforms(model, registries.transforms, validated.transforms, &calibration, quiet));
        if (!transformed->highColumns.empty())
            throw Error("qat: resq's high-precision columns are not trained; put rotate or smoothquant before qat, "
                        "or use resq with another method");
    }
    CausalLm base(model, transformed ? transformed->weights : std::map<std::string, std::vector<float>>{}, quiet);
    if (transformed) base.setHooks(transformed->hooks()); // basis changes only: training fake-quantizes weights
    // Latent weights: every differentiable weight, in its stored layout.
    std::vector<std::string> names;
    std::map<std::string, std::vector<float>> latent;
    for (const DifferentiableWeight& d : differentiableWeights(base)) {
        names.push_back(d.name);
        latent[d.name] = transformed && transformed->weights.count(d.name) ? transformed->weights.at(d.name)
                                                                           : model.weight(d.name).toFloats();
    }
    if (o.init == "gptq") {
        QuantJob gptqJob = rtnJob;
        gptqJob.method = "gptq";
        gptqJob.methodParams = validateParams(registries.quantizers.get("gptq", "method").params(), {}, "gptq");
        for (LayerRule& r : gptqJob.layers)
            if (!r.assignment.keep) {
                r.assignment.method = "gptq";
                r.assignment.methodParams = gptqJob.methodParams;
            }
        ModelQuantResult g = quantizeModel(model, registries, gptqJob, quiet, true, {}, &calibration);
        for (auto& [name, w] : g.weights) latent[name] = std::move(w);
    }
    // Which latent weights are fake-quantized, with what; learned scales start from their fit.
    std::map<std::string, Target> targets;
    std::map<std::string, RunScales> scales;
    {
        QuantJob planJob = rtnJob; // assignments only: transforms change no rule
        planJob.transforms.clear();
        const ModelQuantizer plan(model, registries, planJob, quiet);
        for (std::size_t i = 0; i < plan.targets().size(); ++i) {
            if (plan.assignment(i).keep) continue;
            const WeightInfo* info = plan.targets()[i];
            targets[info->name] = {info, plan.assignment(i).spec};
            if (!o.learnScales) continue;
            requireLearnableScales(plan.assignment(i).spec, info->name);
            scales[info->name] = fitScales(outInFromStored(*info, latent.at(info->name)).data(), info->matrixRows(),
                                           info->matrixCols(), plan.assignment(i).spec);
        }
    }
    auto learnedFor = [&](const std::map<std::string, RunScales>& s, const std::string& name) {
        const auto it = s.find(name);
        return it == s.end() ? nullptr : &it->second;
    };
    auto forwardModel = [&](const std::map<std::string, std::vector<float>>& w, const std::map<std::string, RunScales>& s) {
        std::map<std::string, std::vector<float>> replaced;
        for (const auto& [name, values] : w) {
            const auto t = targets.find(name);
            replaced[name] = t == targets.end() ? values : t->second.quantize(values, learnedFor(s, name));
        }
        return CausalLm(base, std::move(replaced));
    };
    GradOptions gradOptions;
    gradOptions.batchTokens = static_cast<long long>(o.batch) * calibration.ctx; // one batch per step
    auto heldLoss = [&](const std::map<std::string, std::vector<float>>& w, const std::map<std::string, RunScales>& s) {
        return lossAlong(forwardModel(w, s), heldOut, 1, {}, 0.0, gradOptions);
    };
    // Learned scales: Adam moves log(scale) through a zeroed delta per step, so scale_lr 0 keeps the
    // fitted scales bit for bit.
    std::vector<std::string> scaleNames;
    for (const auto& [name, s] : scales) scaleNames.push_back(name);
    Adam scaleAdam;
    std::vector<std::vector<float>> deltas, scaleGrads;
    std::vector<std::vector<float>*> deltaPtrs;
    for (const std::string& name : scaleNames) {
        deltas.emplace_back(scales.at(name).params.size());
        scaleGrads.emplace_back(scales.at(name).params.size());
    }
    for (auto& d : deltas) deltaPtrs.push_back(&d);
    // dL/dQ(latent) becomes LSQ's dL/dlatent (cut where clipped) and the scales' gradients.
    auto lsqGradients = [&](std::vector<std::vector<float>>& grads) {
        for (std::size_t i = 0; i < names.size(); ++i) {
            const auto s = scales.find(names[i]);
            if (s == scales.end()) continue;
            const WeightInfo& info = *targets.at(names[i]).info;
            const std::vector<float> w = outInFromStored(info, latent.at(names[i]));
            std::vector<float> q(w.size()), g = outInFromStored(info, std::move(grads[i]));
            applyScales(w.data(), s->second, q.data());
            std::vector<double> gl;
            scaleGradients(w.data(), q.data(), g.data(), s->second, g.data(), gl);
            grads[i] = storedFromOutIn(info, std::move(g));
            const auto k = static_cast<std::size_t>(std::find(scaleNames.begin(), scaleNames.end(), names[i]) - scaleNames.begin());
            for (std::size_t j = 0; j < gl.size(); ++j) scaleGrads[k][j] = static_cast<float>(gl[j]);
        }
    };
    auto moveScales = [&](int step, double lr) {
        for (auto& d : deltas) std::fill(d.begin(), d.end(), 0.0f);
        scaleAdam.step(deltaPtrs, scaleGrads, step, lr);
        for (std::size_t k = 0; k < scaleNames.size(); ++k)
            for (std::size_t j = 0; j < deltas[k].size(); ++j) {
                ScaleParams& p = scales.at(scaleNames[k]).params[j];
                p.scale *= std::exp(deltas[k][j]);
            }
    };

    std::mt19937_64 rng(o.seed);
    Adam adam;
    std::vector<std::vector<float>*> trainable;
    for (const std::string& name : names) trainable.push_back(&latent.at(name));
    const double initHeld = held ? heldLoss(latent, scales) : std::numeric_limits<double>::quiet_NaN();
    double bestHeld = initHeld, running = 0, lastHeld = initHeld, firstLoss = 0;
    int bestStep = 0;
    std::map<std::string, std::vector<float>> best = latent;
    std::map<std::string, RunScales> bestScales = scales;
    const std::map<std::string, RunScales> fittedScales = scales;
    for (int step = 1; step <= o.steps; ++step) {
        std::vector<std::span<const std::int32_t>> batch;
        for (int b = 0; b < o.batch; ++b) batch.push_back(drawWindow(rng));
        LossGradient g = lossGradient(forwardModel(latent, scales), batch, 1, gradOptions);
        if (step == 1) firstLoss = running = g.loss;
        running = 0.9 * running + 0.1 * g.loss;
        const double decay = 0.5 * (1.0 + std::cos(std::numbers::pi * (step - 1) / o.steps));
        const double lr = o.lr * decay;
        if (o.learnScales) lsqGradients(g.gradients);
        adam.step(trainable, g.gradients, step, lr);
        if (o.learnScales) moveScales(step, o.scaleLr * decay);
        if (held && (step % o.evalEvery == 0 || step == o.steps)) {
            lastHeld = heldLoss(latent, scales);
            if (lastHeld < bestHeld) {
                bestHeld = lastHeld;
                bestStep = step;
                best = latent;
                bestScales = scales;
            }
        }
        char msg[160];
        std::snprintf(msg, sizeof msg, "QAT step %d/%d: loss %.4f (held-out %.4f, best %.4f at step %d)", step, o.steps,
                      running, lastHeld, bestHeld, bestStep);
        ctx.step(step, o.steps, msg);
    }
    if (!held) {
        best = std::move(latent);
        bestScales = std::move(scales);
        bestStep = o.steps;
    }

    nlohmann::json learnedSummary =
        o.learnScales ? learnedScaleSummary(fittedScales, bestScales, best, targets) : nlohmann::json();

    // The result: the best latent weights, quantized by the recipe's specs, plus the trained rest.
    auto trained = transformed ? std::make_shared<TransformedModel>(*transformed) : std::make_shared<TransformedModel>();
    trained->weights = best;
    ModelQuantizer final(model, registries, rtnJob, quiet, trained, onLayer);
    std::map<std::string, std::vector<float>> weights;
    for (const WeightInfo* w : final.targets()) {
        const RunScales* learned = learnedFor(bestScales, w->name);
        auto q = learned ? final.recordQuantized(*w, targets.at(w->name).quantizedOutIn(best.at(w->name), learned), w->name)
                         : final.quantizeWeight(*w, nullptr, w->name);
        if (keepWeights) weights[w->name] = std::move(q);
    }
    ModelQuantResult result = final.finish(nullptr);
    result.job = validated;
    result.job.methodParams = params;
    if (keepWeights)
        for (auto& [name, w] : best)
            if (!weights.count(name)) weights[name] = std::move(w);
    result.weights = std::move(weights);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto number = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); };
    result.calibration = {{"windows", n},
                          {"ctx", calibration.ctx},
                          {"tokens", calibration.tokens()},
                          {"qat",
                           {{"train_windows", train.size()},
                            {"held_out_windows", held},
                            {"steps", o.steps},
                            {"first_loss", firstLoss},
                            {"final_running_loss", running},
                            {"held_out_loss_start", number(initHeld)},
                            {"held_out_loss_best", number(bestHeld)},
                            {"best_step", bestStep},
                            {"scales", o.learnScales ? "learned" : "fixed"},
                            {"seconds", seconds}}}};
    if (o.learnScales) result.calibration["qat"]["learned_scales"] = std::move(learnedSummary);
    result.seconds = seconds;
    return result;
}

} // namespace qs::core
