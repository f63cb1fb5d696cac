// SPDX-License-Identifier: MIT
// A small project built by hand through the store API (no sweep): an fp32 reference and a few
// quantized runs of two methods over the fixture model, one failed run. Shared by the Pareto, Runs
// and report tests.
#pragma once
#include "store/project.h"

#include <QDir>
#include <QString>
#include <filesystem>
#include <string>
#include <vector>

namespace qs::test {

/// A quantized run: method, format, bits/weight, perplexity, KLD, top-1.
struct HandRun {
    std::string method, format;
    double bits, ppl, kld, top1;
};

/// The runs of makeHandProject, in insertion order (ids 2.. after the reference, id 1).
inline std::vector<HandRun> handRuns() {
    return {
        {"rtn", "int8", 8.25, 20.10, 0.001, 0.99}, // id 2: on the front (most bits, best)
        {"rtn", "int4", 4.25, 23.00, 0.060, 0.90}, // id 3: dominated by gptq int4 (id 5)
        {"rtn", "int3", 3.25, 40.00, 0.300, 0.70}, // id 4: dominated by gptq int3 (id 6)
        {"gptq", "int4", 4.25, 20.80, 0.020, 0.95}, // id 5: on the front, within 5% of fp32 (20.0)
        {"gptq", "int3", 3.25, 26.00, 0.120, 0.85}, // id 6: on the front
    };
}

/// Quantizable layer names of the fixture model used for per-layer rows.
inline std::vector<std::string> handLayers() {
    return {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight",
            "model.layers.1.mlp.up_proj.weight"};
}

/// Creates (replacing) a project at `path`: run 1 = fp32 reference (ppl 20), runs 2..6 = handRuns(),
/// run 7 = a failed gptq int2 run. Layer rows for runs 2..6 (SQNR grows with bits).
inline void makeHandProject(const std::filesystem::path& path, const std::string& modelPath) {
    std::filesystem::remove(path);
    std::filesystem::remove_all(path.string() + ".runs");
    auto project = core::Project::open(path, true);
    const auto model = project->ensureModel({0, modelPath, "0123456789abcdef", "llama", 1771200});
    const auto data = project->ensureDataset({0, "/data/test.txt", "fedcba9876543210", 4096});
    const auto prov = project->addProvenance("quantscope-cli sweep tiny --grid G.json");
    const std::string eval = R"({"ctx":128,"windows":8})";
    core::NewRun ref;
    ref.recipe = "{}";
    ref.recipeLabel = "fp32";
    ref.modelId = model;
    ref.datasetId = data;
    ref.provenanceId = prov;
    ref.evalSettings = eval;
    ref.startedAt = ref.finishedAt = "2024-05-01T12:00:00Z";
    ref.metrics.perplexity = 20.0;
    ref.metrics.referencePerplexity = 20.0;
    ref.metrics.bitsPerWeight = 16.0;
    ref.metrics.modelBytes = 1771200 * 2.0;
    project->storeRun(ref);
    for (const auto& h : handRuns()) {
        core::NewRun r = ref;
        r.recipe = R"({"format":")" + h.format + R"(","granularity":"channel","method":")" + h.method + R"("})";
        r.recipeLabel = h.method + " " + h.format + " sym channel";
        r.metrics.perplexity = h.ppl;
        r.metrics.kldMean = h.kld;
        r.metrics.top1Agreement = h.top1;
        r.metrics.bitsPerWeight = h.bits;
        r.metrics.modelBytes = h.bits * 1771200 / 8.0;
        r.seconds = 1.5;
        for (const auto& name : handLayers())
            r.layers.push_back({name, 192, 192, h.bits, 1e-4 / h.bits, 0.01, 6.0 * h.bits, ""});
        project->storeRun(r);
    }
    core::NewRun failed = ref;
    failed.recipe = R"({"format":"int2","granularity":"channel","method":"gptq"})";
    failed.recipeLabel = "gptq int2 sym channel";
    failed.status = "failed";
    failed.error = "Cholesky factorisation failed";
    failed.metrics = {};
    project->storeRun(failed);
}

} // namespace qs::test
