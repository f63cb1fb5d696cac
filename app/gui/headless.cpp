// SPDX-License-Identifier: MIT
#include "headless.h"

#include "engine/model_jobs.h"
#include "engine/quality_report.h"
#include "eval/token_data.h"
#include "engine/text_report.h"
#include "tensor/error.h"

#include <ostream>

namespace qs::gui {

int runHeadless(const CommandLine& cl, const core::Registries& registries, const QString& exeDir,
                std::ostream& out, std::ostream& err) {
    const QString path = cl.modelPath.isEmpty() ? defaultModelPath(exeDir) : cl.modelPath;
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
        if (data.isEmpty() && cl.modelPath.isEmpty()) data = path + QStringLiteral("/sample.txt");
        if (!data.isEmpty()) {
            std::string source;
            const auto tokens = core::readTokenData(data.toStdString(), *model, source);
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
        return 0;
    } catch (const std::exception& e) {
        err << "quantscope: error: " << e.what() << '\n';
        return 1;
    }
}

} // namespace qs::gui
