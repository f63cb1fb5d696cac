// SPDX-License-Identifier: MIT
// Project files (.qsproj, SQLite): opening (application id, schema version, migration of older layouts)
// and reading back every run, layer row, analysis, plan and setting as the GUI and `report` do.
#include "fuzz_util.h"
#include "store/project.h"

#include <nlohmann/json.hpp>

namespace {

// As the CLI prints a record (app/cli/main.cpp): bytes that are not UTF-8 are replaced, not thrown on.
void print(const nlohmann::json& j) { j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace); }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qs::core;
    return qs::fuzz::runOne([&] {
        // Opening migrates in place and SQLite keeps -wal/-shm beside it: start from these bytes alone.
        for (const char* extra : {"-wal", "-shm", "-journal"})
            std::filesystem::remove(qs::fuzz::scratchDir() / (std::string("p.qsproj") + extra));
        const auto path = qs::fuzz::writeScratch("p.qsproj", qs::fuzz::asView(data, size));
        const auto project = Project::open(path, false);
        for (const auto& run : project->runs()) {
            print(run.toJson());
            project->layers(run.id);
            project->model(run.modelId);
            project->dataset(run.datasetId);
            if (run.provenanceId) project->provenance(run.provenanceId);
        }
        for (const auto& a : project->analyses()) {
            print(a.toJson());
            project->analysisRows(a.id);
        }
        project->plans();
        project->setting("gui.sweep_ticks");
    });
}
