// SPDX-License-Identifier: MIT
#include "analysis/transformed_stats.h"

#include "statistics/tensor_stats.h"
#include "calib/collect_stats.h"
#include "io/hdf5_file.h"
#include "nn/causal_lm.h"
#include "transform/transform_math.h"
#include "transform/transform_pipeline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <unistd.h>

namespace qs::core {
namespace {

constexpr int kVersion = 1;

std::filesystem::path inputsFileOf(const std::filesystem::path& file) {
    std::filesystem::path p = file;
    p.replace_extension();
    return p.string() + "-inputs.h5";
}

// Every decoder Linear of the (transformed) model, in layerSites() order.
std::vector<WeightChannels> linearChannels(const Model& model, const CausalLm& lm,
                                           const TransformedModel& t) {
    std::vector<WeightChannels> out;
    for (int l = 0; l < lm.numLayers(); ++l)
        for (const LinearInputSite& site : lm.layerSites(l))
            for (const std::string& name : site.weights) {
                const WeightInfo* info = model.find(name);
                if (!info) throw Error(model.path().string() + ": weight '" + name + "' is missing");
                const std::vector<float> w = t.weightOutIn(model, name);
                WeightChannels c = weightChannels(w.data(), info->matrixRows(), info->matrixCols());
                c.weight = name;
                c.site = site.name;
                out.push_back(std::move(c));
            }
    return out;
}

} // namespace

WeightChannels weightChannels(const float* w, std::int64_t rows, std::int64_t cols) {
    WeightChannels c;
    const std::vector<float> all(w, w + rows * cols);
    c.inAbsMax.assign(static_cast<std::size_t>(cols), 0.0);
    columnAbsMax(all, rows, cols, c.inAbsMax);
    c.outAbsMax.assign(static_cast<std::size_t>(rows), 0.0);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < cols; ++j)
            c.outAbsMax[static_cast<std::size_t>(r)] = std::max(
                c.outAbsMax[static_cast<std::size_t>(r)], static_cast<double>(std::fabs(w[r * cols + j])));
    c.kurtosis = computeTensorStats(w, rows, cols).kurtosis;
    return c;
}

const WeightChannels* TransformedStats::linear(const std::string& weight) const {
    for (const auto& l : linears)
        if (l.weight == weight) return &l;
    return nullptr;
}

const LinearInputStats* TransformedStats::input(const std::string& site) const {
    for (const auto& s : inputs)
        if (s.site == site) return &s;
    return nullptr;
}

double activationKurtosis(const LinearInputStats& stats) {
    if (stats.kurtosis.empty()) return 0;
    return *std::max_element(stats.kurtosis.begin(), stats.kurtosis.end()) + 3.0;
}

std::string transformedStatsKey(const Model& model, const Registry<ModelTransform>& transforms,
                                const std::vector<TransformStep>& steps, const CalibrationData* data) {
    nlohmann::json chain = nlohmann::json::array();
    for (const auto& s : steps) {
        const ModelTransform& t = transforms.get(s.name, "transform");
        chain.push_back(
            {{"name", s.name}, {"params", validateParams(t.params(), s.params, "transform " + s.name)}});
    }
    const CalibrationData none;
    // The calibration key covers the model files and the tokens; the chain is spelled out in full.
    return "transformed-v" + std::to_string(kVersion) + " " +
           calibCacheKey(model, data ? *data : none, false) + " data=" + (data ? "yes" : "no") + " " +
           chain.dump();
}

void saveTransformedStats(const std::filesystem::path& file, const std::string& key,
                          const TransformedStats& stats) {
    const std::filesystem::path tmp = file.string() + ".tmp" + std::to_string(::getpid());
    try {
        {
            Hdf5File h5(tmp, Hdf5File::Mode::Truncate);
            h5.setAttribute("/", "key", key);
            h5.setAttribute("/", "version", std::to_string(kVersion));
            h5.setAttribute("/", "applied", stats.applied.dump());
            h5.setAttribute("/", "linears", std::to_string(stats.linears.size()));
            for (std::size_t i = 0; i < stats.linears.size(); ++i) {
                const WeightChannels& c = stats.linears[i];
                const std::string g = "/linear" + std::to_string(i);
                h5.createGroup(g);
                h5.setAttribute(g, "weight", c.weight);
                h5.setAttribute(g, "site", c.site);
                h5.writeF64(g + "/out_abs_max", {static_cast<std::int64_t>(c.outAbsMax.size())},
                            c.outAbsMax.data());
                h5.writeF64(g + "/in_abs_max", {static_cast<std::int64_t>(c.inAbsMax.size())},
                            c.inAbsMax.data());
                h5.writeF64(g + "/kurtosis", {1}, &c.kurtosis);
            }
            h5.flush();
        } // closed before the rename: the final name only ever points at a complete file
        saveCalibStats(inputsFileOf(file), key, stats.inputs);
        std::error_code ec;
        std::filesystem::rename(tmp, file, ec);
        if (ec)
            throw Error(file.string() + ": cannot rename the statistics cache into place: " + ec.message());
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
        throw;
    }
}

TransformedStats loadTransformedStats(const std::filesystem::path& file, const std::string& key) {
    const Hdf5File h5(file, Hdf5File::Mode::Read);
    if (h5.attribute("/", "version") != std::to_string(kVersion) || h5.attribute("/", "key") != key)
        throw Error(file.string() + ": statistics cache of another version or key");
    TransformedStats s;
    try {
        s.applied = nlohmann::json::parse(h5.attribute("/", "applied").value_or("[]"));
        const long long n = std::stoll(h5.attribute("/", "linears").value_or("-1"));
        if (n < 0) throw Error("no linear count");
        for (long long i = 0; i < n; ++i) {
            const std::string g = "/linear" + std::to_string(i);
            WeightChannels c;
            c.weight = h5.attribute(g, "weight").value_or("");
            c.site = h5.attribute(g, "site").value_or("");
            const Tensor out = h5.readF32(g + "/out_abs_max", 1), in = h5.readF32(g + "/in_abs_max", 1),
                         k = h5.readF32(g + "/kurtosis", 1);
            c.outAbsMax.assign(out.data<float>(), out.data<float>() + out.numel());
            c.inAbsMax.assign(in.data<float>(), in.data<float>() + in.numel());
            if (k.numel() != 1) throw Error(g + "/kurtosis is not one value");
            c.kurtosis = k.data<float>()[0];
            s.linears.push_back(std::move(c));
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) { // json / stoll
        throw Error(file.string() + ": malformed statistics cache: " + e.what());
    }
    s.inputs = loadCalibStats(inputsFileOf(file), key);
    return s;
}

TransformedStats transformedStats(const Model& model, const Registry<ModelTransform>& transforms,
                                  const std::vector<TransformStep>& steps, const CalibrationData* data,
                                  const CalibCacheOptions& cache, const JobContext& job,
                                  std::vector<std::string>* warnings) {
    auto warn = [&](const std::string& s) {
        if (warnings) warnings->push_back(s);
    };
    const std::string key = transformedStatsKey(model, transforms, steps, data);
    const std::filesystem::path dir = cache.dir.empty() ? defaultCalibCacheDir() : cache.dir;
    const bool cached = cache.enabled && !dir.empty() && !steps.empty();
    // The file name only has to be unlikely to collide: the full key is checked inside.
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx",
                  static_cast<unsigned long long>(std::hash<std::string>{}(key)));
    const std::filesystem::path file = dir / ("transformed-" + std::string(hash) + ".h5");
    std::error_code ec;
    if (cached && std::filesystem::exists(file, ec)) {
        try {
            return loadTransformedStats(file, key);
        } catch (const Error& e) {
            warn(std::string("ignoring the statistics cache (recomputing): ") + e.what());
        }
    }

    const JobContext quiet{{}, job.cancel};
    TransformedStats out;
    const CausalLm base(model, {}, quiet);
    if (steps.empty()) {
        // The model itself: its inputs are the calibration statistics, cached there.
        out.linears = linearChannels(model, base, TransformedModel{});
        if (data) out.inputs = cachedModelStats(model, base, *data, false, cache, job, warnings);
        return out;
    }
    const TransformedModel t = applyTransforms(model, transforms, steps, data, job);
    out.applied = t.applied;
    out.linears = linearChannels(model, base, t);
    if (data) {
        CausalLm lm(base, t.weights);
        lm.setHooks(t.hooks()); // the online rotations run before the observer sees the input
        out.inputs = collectModelStats(lm, *data, false, job);
    }
    if (cached) {
        try {
            std::filesystem::create_directories(dir, ec);
            if (ec) throw Error(dir.string() + ": cannot create the cache directory: " + ec.message());
            saveTransformedStats(file, key, out);
        } catch (const Error& e) {
            warn(std::string("transformed statistics not cached: ") + e.what());
        }
    }
    return out;
}

} // namespace qs::core
