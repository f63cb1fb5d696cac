// SPDX-License-Identifier: MIT
#include "calib/calib_cache.h"

#include "calib/collect_stats.h"
#include "base/error.h"

#include <H5Cpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace qs::core {
namespace {

// 2: per-channel percentiles of |x| (abs_percentiles); a version-1 file is recomputed, not misread.
constexpr int kVersion = 2;

// FNV-1a 64: a cache key, not a security boundary.
struct Fnv {
    std::uint64_t h = 1469598103934665603ull;
    void add(const void* data, std::size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    }
    void add(const std::string& s) { add(s.data(), s.size() + 1); }
    template <class T> void addValue(T v) { add(&v, sizeof v); }
};

void addFileIdentity(Fnv& f, const std::filesystem::path& p) {
    std::error_code ec;
    f.add(p.filename().string());
    f.addValue(static_cast<std::uint64_t>(std::filesystem::file_size(p, ec)));
    f.addValue(static_cast<std::int64_t>(std::filesystem::last_write_time(p, ec).time_since_epoch().count()));
}

void writeString(H5::H5Object& obj, const char* name, const std::string& v) {
    H5::StrType str(H5::PredType::C_S1, std::max<std::size_t>(v.size(), 1));
    obj.createAttribute(name, str, H5::DataSpace(H5S_SCALAR)).write(str, v.empty() ? std::string(" ") : v);
}

std::string readString(const H5::H5Object& obj, const char* name) {
    H5::Attribute a = obj.openAttribute(name);
    std::string v;
    a.read(a.getStrType(), v);
    return v == " " ? std::string() : v;
}

void writeInt(H5::H5Object& obj, const char* name, std::int64_t v) {
    obj.createAttribute(name, H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &v);
}

std::int64_t readInt(const H5::H5Object& obj, const char* name) {
    std::int64_t v = 0;
    obj.openAttribute(name).read(H5::PredType::NATIVE_INT64, &v);
    return v;
}

void writeDoubles(H5::Group& g, const char* name, const double* data, hsize_t rows, hsize_t cols) {
    const hsize_t dims[2] = {rows, cols};
    H5::DataSpace space(cols ? 2 : 1, dims);
    H5::DataSet ds = g.createDataSet(name, H5::PredType::NATIVE_DOUBLE, space);
    if (rows) ds.write(data, H5::PredType::NATIVE_DOUBLE);
}

std::vector<double> readDoubles(const H5::Group& g, const char* name, hsize_t expected) {
    H5::DataSet ds = g.openDataSet(name);
    if (static_cast<hsize_t>(ds.getSpace().getSimpleExtentNpoints()) != expected)
        throw Error(std::string("dataset ") + name + " has the wrong size");
    std::vector<double> v(expected);
    if (expected) ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    return v;
}

} // namespace

std::filesystem::path defaultCalibCacheDir() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "quantscope";
    if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "quantscope";
    return {};
}

std::string calibCacheKey(const Model& model, const CalibrationData& data, bool withGram) {
    Fnv f;
    f.add("quantscope-calib-v" + std::to_string(kVersion));
    std::error_code ec;
    const std::filesystem::path root = std::filesystem::absolute(model.path(), ec);
    f.add(root.string());
    if (std::filesystem::is_directory(root, ec)) {
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(root, ec))
            if (e.is_regular_file(ec)) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& p : files) addFileIdentity(f, p);
    } else {
        addFileIdentity(f, root);
    }
    f.addValue(static_cast<std::int64_t>(data.ctx));
    f.addValue(static_cast<std::uint64_t>(data.windows.size()));
    for (const auto& w : data.windows) f.add(w.data(), w.size() * sizeof(std::int32_t));
    f.addValue(withGram);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(f.h));
    return hex;
}

void saveCalibStats(const std::filesystem::path& file, const std::string& key,
                    const std::vector<LinearInputStats>& stats) {
    const std::filesystem::path tmp = file.string() + ".tmp" + std::to_string(::getpid());
    try {
        H5::Exception::dontPrint();
        {
            H5::H5File h5(tmp.string(), H5F_ACC_TRUNC);
            H5::Group root = h5.openGroup("/");
            writeString(root, "key", key);
            writeInt(root, "version", kVersion);
            writeInt(root, "sites", static_cast<std::int64_t>(stats.size()));
            for (std::size_t i = 0; i < stats.size(); ++i) {
                const LinearInputStats& s = stats[i];
                H5::Group g = h5.createGroup("/site" + std::to_string(i));
                writeString(g, "site", s.site);
                writeInt(g, "features", s.features);
                writeInt(g, "samples", s.samples);
                // xtx is symmetric: its column-major data is also its row-major data.
                writeDoubles(g, "xtx", s.xtx.data(), static_cast<hsize_t>(s.xtx.rows()), static_cast<hsize_t>(s.xtx.cols()));
                const auto n = static_cast<hsize_t>(s.features);
                writeDoubles(g, "abs_max", s.absMax.data(), s.absMax.size() == n ? n : 0, 0);
                writeDoubles(g, "abs_mean", s.absMean.data(), s.absMean.size() == n ? n : 0, 0);
                writeDoubles(g, "mean", s.mean.data(), s.mean.size() == n ? n : 0, 0);
                writeDoubles(g, "variance", s.variance.data(), s.variance.size() == n ? n : 0, 0);
                writeDoubles(g, "kurtosis", s.kurtosis.data(), s.kurtosis.size() == n ? n : 0, 0);
                const hsize_t levels = LinearInputStats::kAbsPercentileLevels.size();
                const bool hasPct = s.absPercentiles.size() == n * levels;
                writeDoubles(g, "abs_percentiles", s.absPercentiles.data(), hasPct ? n : 0, hasPct ? levels : 0);
            }
            h5.flush(H5F_SCOPE_GLOBAL);
        } // closed before the rename: the final name only ever points at a complete file
        std::error_code ec;
        std::filesystem::rename(tmp, file, ec);
        if (ec) throw Error(file.string() + ": cannot rename the calibration cache into place: " + ec.message());
    } catch (const H5::Exception& e) {
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
        throw Error(file.string() + ": cannot write the calibration cache: " + e.getDetailMsg());
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
        throw;
    }
}

std::vector<LinearInputStats> loadCalibStats(const std::filesystem::path& file, const std::string& key) {
    try {
        H5::Exception::dontPrint();
        H5::H5File h5(file.string(), H5F_ACC_RDONLY);
        const H5::Group root = h5.openGroup("/");
        if (readInt(root, "version") != kVersion || readString(root, "key") != key)
            throw Error(file.string() + ": calibration cache of another version or key");
        const std::int64_t sites = readInt(root, "sites");
        if (sites < 0) throw Error(file.string() + ": negative site count");
        std::vector<LinearInputStats> out;
        for (std::int64_t i = 0; i < sites; ++i) {
            const H5::Group g = h5.openGroup("/site" + std::to_string(i));
            LinearInputStats s;
            s.site = readString(g, "site");
            s.features = readInt(g, "features");
            s.samples = readInt(g, "samples");
            if (s.features < 0 || s.samples < 0) throw Error(file.string() + ": negative sizes in " + s.site);
            const auto n = static_cast<hsize_t>(s.features);
            const H5::DataSet xtx = g.openDataSet("xtx");
            const auto points = static_cast<hsize_t>(xtx.getSpace().getSimpleExtentNpoints());
            if (points == n * n && n > 0) {
                s.xtx.resize(s.features, s.features);
                xtx.read(s.xtx.data(), H5::PredType::NATIVE_DOUBLE);
            } else if (points != 0) {
                throw Error(file.string() + ": xtx of " + s.site + " has the wrong size");
            }
            s.absMax = readDoubles(g, "abs_max", n);
            s.absMean = readDoubles(g, "abs_mean", n);
            s.mean = readDoubles(g, "mean", n);
            s.variance = readDoubles(g, "variance", n);
            s.kurtosis = readDoubles(g, "kurtosis", n);
            s.absPercentiles = readDoubles(g, "abs_percentiles", n * LinearInputStats::kAbsPercentileLevels.size());
            out.push_back(std::move(s));
        }
        return out;
    } catch (const H5::Exception& e) {
        throw Error(file.string() + ": unreadable calibration cache: " + e.getDetailMsg());
    } catch (const Error& e) {
        throw Error(std::string(e.what()));
    }
}

std::vector<LinearInputStats> cachedModelStats(const Model& model, const CausalLm& lm, const CalibrationData& data,
                                               bool withGram, const CalibCacheOptions& options, const JobContext& job,
                                               std::vector<std::string>* warnings) {
    auto warn = [&](const std::string& s) {
        if (warnings) warnings->push_back(s);
    };
    const std::filesystem::path dir = options.dir.empty() ? defaultCalibCacheDir() : options.dir;
    if (!options.enabled || dir.empty()) return collectModelStats(lm, data, withGram, job);
    const std::string key = calibCacheKey(model, data, withGram);
    const std::filesystem::path file = dir / ("calib-" + key + ".h5");
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) {
        try {
            return loadCalibStats(file, key);
        } catch (const Error& e) {
            warn(std::string("ignoring the calibration cache (recomputing): ") + e.what());
        }
    }
    auto stats = collectModelStats(lm, data, withGram, job);
    try {
        std::filesystem::create_directories(dir, ec);
        if (ec) throw Error(dir.string() + ": cannot create the cache directory: " + ec.message());
        saveCalibStats(file, key, stats);
    } catch (const Error& e) {
        warn(std::string("calibration statistics not cached: ") + e.what());
    }
    return stats;
}

} // namespace qs::core
