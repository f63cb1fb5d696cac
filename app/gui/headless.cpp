// SPDX-License-Identifier: MIT
#include "headless.h"

#include "engine/model_jobs.h"
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
        return 0;
    } catch (const std::exception& e) {
        err << "quantscope: error: " << e.what() << '\n';
        return 1;
    }
}

} // namespace qs::gui
