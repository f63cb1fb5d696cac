// SPDX-License-Identifier: MIT
#include "experiment/analysis_run.h"

#include "base/error.h"
#include <omp.h>

#include <chrono>
#include <optional>

namespace qs::core {

nlohmann::json AnalysisOutcome::toJson() const {
    return {{"analysis", settings.value("analysis", "")},
            {"id", id},
            {"reused", reused},
            {"seconds", seconds},
            {"settings", settings},
            {"manifest", manifest},
            {"result", output.summary}};
}

AnalysisOutcome runAnalysis(const AnalysisRequest& request, const Registries& registries, Project* project,
                            const JobContext& job) {
    const Analysis& analysis = registries.analyses.get(request.name, "analysis");
    if (!request.model) throw Error(request.name + ": no model");
    const Model& model = *request.model;
    AnalysisOutcome out;
    const nlohmann::json params = validateParams(analysis.params(), request.params, std::string(request.name));
    // The key: everything that changes the result (the data set by its content hash, in the dataset row).
    out.settings = {{"analysis", request.name}, {"params", params}, {"ctx", request.ctx}, {"windows", request.windows}};
    // float32 products keep the keys analyses had before compute was a choice (as sweeps' runs do).
    if (params.value("compute", "") == "f32") out.settings["params"].erase("compute");
    if (analysis.revision() > 1) out.settings["revision"] = analysis.revision();
    job.step(0, 0, "reading " + request.setPath);
    const CalibrationData set = loadCalibrationData(request.setPath, model.path(), request.ctx, request.windows);
    const std::string modelHash = contentHash(model.path()), dataHash = specHash(request.setPath);
    out.manifest = {{"model", {{"path", absolutePath(model.path())}, {"hash", modelHash}}},
                    {"data", {{"path", absoluteSpec(request.setPath)}, {"hash", dataHash}}},
                    {"set", {{"windows", set.windows.size()}, {"ctx", set.ctx}, {"tokens", set.tokens()},
                             {"source", set.source}}},
                    {"params", params},
                    {"program_version", QS_VERSION},
                    {"command_line", request.commandLine}};
    std::optional<CalibrationData> calibration;
    if (!request.calibPath.empty()) {
        job.step(0, 0, "reading " + request.calibPath);
        calibration = loadCalibrationData(request.calibPath, model.path(), request.ctx, request.calibWindows);
        const std::string calibHash = specHash(request.calibPath);
        out.settings["calibration"] = {{"hash", calibHash}, {"windows", request.calibWindows}};
        out.manifest["calibration"] = {{"path", absoluteSpec(request.calibPath)}, {"hash", calibHash},
                                       {"windows", calibration->windows.size()}, {"tokens", calibration->tokens()}};
    }
    std::int64_t modelId = 0, datasetId = 0;
    if (project) {
        modelId = project->ensureModel({0, absolutePath(model.path()), modelHash, model.config().modelType,
                                        model.parameterCount()});
        datasetId = project->ensureDataset({0, absoluteSpec(request.setPath), dataHash, set.tokens()});
        if (const auto stored = project->findAnalysis(request.name, modelId, datasetId, out.settings.dump())) {
            AnalysisOutcome reopened = openAnalysis(*project, stored->id);
            reopened.reused = true;
            return reopened;
        }
    }
    const std::string startedAt = isoTimeNow();
    const auto start = std::chrono::steady_clock::now();
    out.output = analysis.run({model, set, registries, calibration ? &*calibration : nullptr}, params, job);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.manifest["threads"] = omp_get_max_threads(); // recorded, not keyed: results do not depend on it
    if (!project) return out;
    out.id = storeAnalysisOutcome(*project, request.name, modelId, datasetId, out, startedAt, request.commandLine);
    return out;
}

std::int64_t storeAnalysisOutcome(Project& project, const std::string& kind, std::int64_t modelId,
                                  std::int64_t datasetId, const AnalysisOutcome& out, const std::string& startedAt,
                                  const std::string& commandLine) {
    NewAnalysis a;
    a.kind = kind;
    a.modelId = modelId;
    a.datasetId = datasetId;
    a.provenanceId = project.addProvenance(commandLine);
    a.settings = out.settings.dump();
    a.manifest = out.manifest.dump();
    a.summary = out.output.summary.dump();
    a.startedAt = startedAt;
    a.finishedAt = isoTimeNow();
    a.seconds = out.seconds;
    for (const auto& [label, values] : out.output.rows) a.rows.emplace_back(label, values.dump());
    a.arrays = out.output.arrays;
    if (const auto id = project.storeAnalysis(a)) return *id;
    if (const auto other = project.findAnalysis(kind, modelId, datasetId, a.settings))
        return other->id; // another process stored the same analysis first
    return 0;
}

AnalysisOutcome openAnalysis(Project& project, std::int64_t id) {
    const auto record = project.analysis(id);
    if (!record) throw Error(project.path().string() + ": no analysis " + std::to_string(id));
    AnalysisOutcome out;
    out.id = id;
    out.reused = true;
    out.seconds = record->seconds;
    out.settings = nlohmann::json::parse(record->settings);
    out.manifest = nlohmann::json::parse(record->manifest);
    out.output.summary = nlohmann::json::parse(record->summary);
    for (const auto& [label, values] : project.analysisRows(id))
        out.output.rows.emplace_back(label, nlohmann::json::parse(values));
    out.output.arrays = project.analysisArrays(id);
    return out;
}

} // namespace qs::core
