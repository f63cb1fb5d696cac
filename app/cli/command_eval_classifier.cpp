// SPDX-License-Identifier: MIT
// eval on an .onnx image classifier: accuracy with fake-quantized weights and activations.
#include "command_eval_classifier.h"

#include "cli_params.h"
#include "quant/model_quantizer.h"
#include "eval/classifier_eval.h"
#include "io/array_source.h"
#include "model/onnx_model.h"
#include "base/error.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace qs::cli {

namespace {

bool endsWithOnnx(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s.size() > 5 && s.ends_with(".onnx");
}

// "int8", "int8:tensor", "int4:token:asym", "int4:group:32": format, granularity (default tensor), group, symmetry.
std::int64_t parseBatch(const std::string& v) {
    std::size_t used = 0;
    long long b = 0;
    try {
        b = std::stoll(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != v.size() || b < 1) throw core::Error("--batch " + v + ": expected an integer >= 1");
    return b;
}

std::string pct(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f %%", 100.0 * v);
    return buf;
}

} // namespace

bool isClassifierEval(const ArgList& args) {
    ArgList copy = args;
    while (const auto p = copy.takePositional())
        if (endsWithOnnx(*p)) return true;
    return false;
}

std::string evalClassifierUsage() {
    return "quantscope-cli eval MODEL.onnx --data X --labels Y [spec flags] [--act-quant Q] [--calib X]\n"
           "                   [--batch N] [--json]\n"
           "  Accuracy of an ONNX image classifier (argmax of its first output vs the labels).\n"
           "  X, Y: a .npy file or FILE.h5:DATASET; X float [N, ...] as the model's input, Y integer [N].\n"
           "  --act-quant Q    fake-quantize the input of every Conv/Gemm/MatMul, Q = FORMAT[:tensor|token]\n"
           "                   [:N][:sym|asym] (default tensor); static scales from --calib X (max |x| over\n"
           "                   all its images, fp32 model), dynamic per batch without it\n"
           "  --batch N        images per forward pass (default 256)\n"
           "  With weight spec flags or --act-quant the fp32 accuracy and the argmax agreement are reported too.\n\n";
}

nlohmann::json runEvalClassifier(ArgList& args, CliContext& ctx) {
    const auto data = args.takeOption("data");
    const auto labelsSpec = args.takeOption("labels");
    const auto calib = args.takeOption("calib");
    const auto actText = args.takeOption("act-quant");
    const auto batchText = args.takeOption("batch");
    const std::int64_t batch = batchText ? parseBatch(*batchText) : 256;
    const core::Recipe recipe = takeRecipe(args, ctx.registries, "eval", false);
    const bool quantizeWeights = recipe.quantizeWeights;
    const core::QuantJob job = recipe.job;
    if (quantizeWeights && core::recipeNeedsCalibration(recipe, ctx.registries))
        throw core::Error("eval: method " + job.method +
                          " calibrates on a language model's layer inputs; an .onnx classifier takes "
                          "calibration-free methods (rtn)");
    std::optional<core::QuantSpec> actSpec;
    if (actText) // the one spec parser; a classifier's activation scales are per tensor unless told otherwise
        actSpec = core::hookSpecFromString(*actText, "--act-quant", core::Granularity::Tensor);
    if (actSpec && actSpec->scaleRule != core::ScaleRule::MinMax)
        throw core::Error("eval: --act-quant " + *actText + ": a classifier's activation scales come from the "
                          "calibration absmax (min/max); percentile clipping applies to language models");
    const auto path = args.takePositional();
    if (!path) throw core::Error("eval: missing MODEL");
    if (!data) throw core::Error("eval: missing --data X (.npy or FILE.h5:DATASET)");
    if (!labelsSpec) throw core::Error("eval: an .onnx classifier needs --labels Y (.npy or FILE.h5:DATASET)");
    if (calib && !actSpec) throw core::Error("eval: --calib calibrates activation scales: give --act-quant too");
    args.expectEmpty();

    const auto model = core::OnnxModel::open(*path);
    const core::Tensor x = core::readArraySpec(*data);
    const std::vector<std::int64_t> labels = core::toLabels(core::readArraySpec(*labelsSpec), *labelsSpec);
    if (x.shape().empty() || x.shape()[0] != static_cast<std::int64_t>(labels.size()))
        throw core::Error("eval: --data " + *data + " " + core::shapeToString(x.shape()) + " holds a different number of images than --labels " + *labelsSpec + " (" + std::to_string(labels.size()) + ")");

    nlohmann::json j{{"model", model->path().string()}, {"data", *data}, {"labels", *labelsSpec}};
    const core::OnnxClassifier reference(*model);
    const core::ClassifierResult ref = reference.evaluate(x, labels, batch, ctx.job);
    core::ClassifierResult result = ref;
    const bool compare = quantizeWeights || actSpec.has_value();
    std::optional<core::ModelQuantResult> quant;
    std::optional<core::ActivationQuant> actQuant;
    if (compare) {
        std::map<std::string, std::vector<float>> replaced;
        nlohmann::json used = nlohmann::json::object();
        if (quantizeWeights) {
            quant = core::quantizeModel(*model, ctx.registries, job, ctx.job, true);
            replaced = std::move(quant->weights);
            used = quant->job.toJson();
            j["bits_per_weight"] = quant->bitsPerWeight;
        }
        if (actSpec) {
            if (calib) {
                const core::Tensor cx = core::readArraySpec(*calib);
                actQuant = core::staticActivationQuant(*actSpec, core::calibrateActivationRanges(*model, cx, batch, ctx.job));
                auto scales = nlohmann::json::array();
                for (const auto& p : actQuant->staticParams) scales.push_back(p.scale);
                j["activation_scales"] = scales;
            } else {
                actQuant = core::ActivationQuant{*actSpec, {}};
            }
            used["activation"] = actSpec->toJson();
            used["activation"]["static"] = calib.has_value();
        }
        j["recipe"] = used;
        const core::OnnxClassifier candidate(*model, replaced, actQuant);
        result = candidate.evaluate(x, labels, batch, ctx.job);
        j["reference"] = ref.toJson();
        j["agreement"] = core::argmaxAgreement(ref, result);
    }
    j.update(result.toJson());
    j["classes"] = result.classes;

    if (!ctx.json) {
        std::cout << "model        " << model->path().string() << " (ONNX opset " << model->graph().opset << ", "
                  << model->parameterCount() << " parameters)\n"
                  << "data         " << *data << ": " << labels.size() << " images, " << result.classes << " classes\n";
        if (compare) {
            std::cout << "recipe       ";
            if (quant) std::cout << recipe.label() << " (" << quant->bitsPerWeight << " bits/weight)";
            if (actSpec) std::cout << (quant ? ", " : "") << "activations " << actSpec->label() << (calib ? " static" : " dynamic");
            std::cout << "\naccuracy     " << pct(result.accuracy) << " (" << result.nCorrect << "/" << result.n
                      << ")   fp32 " << pct(ref.accuracy) << " (" << ref.nCorrect << "/" << ref.n << ")\n"
                      << "agreement    " << pct(core::argmaxAgreement(ref, result)) << " same argmax as fp32\n";
        } else {
            std::cout << "accuracy     " << pct(result.accuracy) << " (" << result.nCorrect << "/" << result.n << ")\n";
        }
        std::cout << "misclassified";
        for (std::size_t k = 0; k < result.misclassified.size() && k < 20; ++k) std::cout << ' ' << result.misclassified[k];
        if (result.misclassified.size() > 20) std::cout << " ... (" << result.misclassified.size() << ")";
        std::cout << '\n';
    }
    return j;
}

} // namespace qs::cli
