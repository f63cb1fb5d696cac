// SPDX-License-Identifier: MIT
// Writes the seeds that only the engine's own writers make well: HDF5 data sets and a project file
// (make_seeds.py makes the byte formats and shrinks the project's pages). Not part of any test run:
//   cmake --build build --target qs_fuzz_seed_writer && build/bin/qs_fuzz_seed_writer OUTDIR
#include "io/hdf5_file.h"
#include "store/project.h"

#include <cstdio>
#include <filesystem>
#include <vector>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

void writeHdf5(const fs::path& dir) {
    {
        Hdf5File h5(dir / "images.h5", Hdf5File::Mode::Truncate);
        std::vector<float> x(2 * 8 * 8);
        for (std::size_t k = 0; k < x.size(); ++k) x[k] = float(k % 17) / 16.0f;
        h5.writeF32("test/x", {2, 1, 8, 8}, x.data());
        const std::vector<std::int64_t> y{3, 7};
        h5.writeI64("test/y", {2}, y.data());
        h5.setAttribute("/", "quantscope", "digits");
    }
    {
        Hdf5File h5(dir / "cache.h5", Hdf5File::Mode::Truncate);
        std::vector<double> xtx(36, 0.25);
        h5.writeF64("calib/layer0/xtx", {6, 6}, xtx.data());
        // Over 4 KiB: stored chunked and gzip-compressed.
        std::vector<float> big(1500);
        for (std::size_t k = 0; k < big.size(); ++k) big[k] = float(k % 5);
        h5.writeF32("calib/layer0/absmax", {1500}, big.data());
        h5.setAttribute("calib", "model", "tiny");
    }
}

void writeProject(const fs::path& dir) {
    const auto project = Project::open(dir / "runs.qsproj", true);
    const auto model = project->ensureModel({0, "/m", "abc123", "llama", 1000});
    const auto data = project->ensureDataset({0, "/d.txt", "def456", 512});
    const auto prov = project->addProvenance("quantscope-cli sweep");
    for (int k = 0; k < 2; ++k) {
        NewRun run;
        run.recipe = k == 0 ? "{}" : R"({"format":"int4","granularity":"group","group":32,"method":"rtn"})";
        run.recipeLabel = k == 0 ? "fp32" : "rtn int4 group 32";
        run.modelId = model;
        run.datasetId = data;
        run.provenanceId = prov;
        run.evalSettings = R"({"ctx":128,"windows":4})";
        run.startedAt = run.finishedAt = "2026-01-01T00:00:00Z";
        run.metrics.perplexity = 12.5 + k;
        run.metrics.bitsPerWeight = k == 0 ? 32.0 : 4.5;
        if (k == 1) run.layers.push_back({"model.layers.0.mlp.down_proj", 8, 16, 4.5, 1e-3, 0.1, 30.0, ""});
        project->storeRun(run);
    }
    project->setSetting("gui.sweep_ticks", R"(["format"])");
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    const fs::path out(argv[1]);
    fs::create_directories(out);
    writeHdf5(out);
    writeProject(out);
    return 0;
}
