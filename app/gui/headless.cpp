// SPDX-License-Identifier: MIT
#include "headless.h"

#include "quant/model_quantizer.h"
#include "experiment/quality_report.h"
#include "data/token_data.h"
#include "experiment/text_report.h"
#include "eval/classifier_eval.h"
#include "io/array_source.h"
#include "io/npy.h"
#include "model/onnx_model.h"
#include "base/error.h"

#include <QFileInfo>

#include <cstdio>
#include <ostream>

namespace qs::gui {

namespace {

// The demo's ONNX digit classifier: accuracy in fp32 and with INT8 / INT4 per-channel weights.
void classifierDemo(const QString& demoDir, const core::Registries& registries, std::ostream& out) {
    const std::string dir = demoDir.toStdString();
    if (!QFileInfo::exists(demoDir + QStringLiteral("/demo_classifier.onnx"))) return;
    const auto model = core::OnnxModel::open(dir + "/demo_classifier.onnx");
    const core::Tensor x = core::readNpy(dir + "/demo_digits_x.npy");
    const auto labels = core::toLabels(core::readNpy(dir + "/demo_digits_y.npy"), "demo_digits_y.npy");
    const core::JobContext ctx;
    out << "\nDemo classifier " << dir << "/demo_classifier.onnx (" << model->parameterCount()
        << " parameters) on " << labels.size() << " digit images\n";
    for (const char* format : {"fp32", "int8", "int4"}) {
        std::map<std::string, std::vector<float>> weights;
        if (std::string(format) != "fp32") {
            core::QuantJob job;
            job.spec = core::QuantSpec::fromJson({{"format", format}, {"granularity", "channel"}});
            weights = core::quantizeModel(*model, registries, job, ctx, true).weights;
        }
        const core::OnnxClassifier classifier(*model, weights);
        const auto r = classifier.evaluate(x, labels, 256, ctx);
        char line[96];
        std::snprintf(line, sizeof line, "  %-22s accuracy %6.2f %% (%lld/%lld)\n",
                      std::string(format) == "fp32" ? "fp32" : (std::string(format) + " per-channel").c_str(),
                      100.0 * r.accuracy, static_cast<long long>(r.nCorrect), static_cast<long long>(r.n));
        out << line;
    }
    out.flush();
}

// Whether this run is on the demo model: no model given (the demo is the default), or a path that
// names the demo's directory however it is spelled (scripts/setup.sh passes "resources/demo").
// Either way the run adds the demo's perplexity comparison on sample.txt and its classifier.
bool isDemoRun(const CommandLine& cl, const QString& exeDir) {
    if (cl.modelPath.isEmpty()) return true;
    const QString demo = defaultModelPath(exeDir);
    if (demo.isEmpty()) return false;
    // canonicalFilePath() resolves "..", symlinks and a trailing slash; it is empty for a missing path.
    const QString given = QFileInfo(cl.modelPath).canonicalFilePath();
    return !given.isEmpty() && given == QFileInfo(demo).canonicalFilePath();
}

} // namespace

int runHeadless(const CommandLine& cl, const core::Registries& registries, const QString& exeDir,
                std::ostream& out, std::ostream& err) {
    const QString path = cl.modelPath.isEmpty() ? defaultModelPath(exeDir) : cl.modelPath;
    const bool demo = isDemoRun(cl, exeDir);
    if (path.isEmpty()) {
        err << "quantscope: no model given and no demo model found (looked in " << exeDir.toStdString()
            << "/../share/quantscope/demo)\n";
        return 2;
    }
    try {
        nlohmann::json spec = defaultSpecValues();
        for (const auto& [key, value] : cl.spec.items())
            spec[key] = value;
        core::QuantJob job;
        job.method = cl.method.toStdString();
        job.spec = core::QuantSpec::fromJson(spec);

        const auto model = core::openModel(path.toStdString());
        const core::JobContext ctx;
        const auto layers = core::inspectModel(*model, ctx);
        out << core::formatLayerTable(*model, layers) << '\n';
        const auto result = core::quantizeModel(*model, registries, job, ctx, false);
        out << core::formatQuantResult(result);
        out.flush();

        // Perplexity of the chosen recipe and a few common ones on evaluation data (the demo ships some).
        QString data = cl.dataPath;
        if (data.isEmpty() && demo) data = path + QStringLiteral("/sample.txt");
        if (!data.isEmpty()) {
            std::string source;
            const auto tokens = core::readTokenData(data.toStdString(), model->path(), source);
            std::vector<core::QuantJob> jobs{job};
            for (const nlohmann::json& extra : {nlohmann::json{{"format", "int8"}, {"granularity", "channel"}},
                                                nlohmann::json{{"format", "mxfp4"}}, nlohmann::json{{"format", "nvfp4"}},
                                                nlohmann::json{{"format", "int3"}, {"group", 32}, {"sym", false}}})
                jobs.push_back({"rtn", core::QuantSpec::fromJson(extra), nlohmann::json::object()});
            out << "\nEvaluation data " << data.toStdString() << ": " << tokens.size() << " tokens (" << source
                << ")\n";
            core::EvalOptions opts;
            opts.maxWindows = 64; // a quick first comparison; `quantscope-cli eval` measures all of it
            out << core::formatRecipeQuality(core::compareRecipes(*model, registries, tokens, opts, jobs, ctx));
            out.flush();
        }
        if (demo) classifierDemo(path, registries, out);
        return 0;
    } catch (const std::exception& e) {
        err << "quantscope: error: " << e.what() << '\n';
        return 1;
    }
}

} // namespace qs::gui
