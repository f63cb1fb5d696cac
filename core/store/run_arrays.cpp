// SPDX-License-Identifier: MIT
#include "store/run_arrays.h"

#include "base/error.h"

#include <H5Cpp.h>

#include <cstdio>
#include <sstream>
#include <unistd.h>

namespace qs::core {
namespace {

template <class T> void writeAttr(H5::H5Object& obj, const char* name, const H5::PredType& type, T v) {
    obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, &v);
}

template <class T> T readAttr(const H5::H5Object& obj, const char* name, const H5::PredType& type) {
    T v{};
    obj.openAttribute(name).read(type, &v);
    return v;
}

void writeDoubles(H5::Group& g, const char* name, const std::vector<double>& v) {
    const hsize_t n = v.size();
    H5::DataSpace space(1, &n);
    g.createDataSet(name, H5::PredType::NATIVE_DOUBLE, space).write(v.data(), H5::PredType::NATIVE_DOUBLE);
}

std::vector<double> readDoubles(const H5::Group& g, const char* name) {
    H5::DataSet ds = g.openDataSet(name);
    hsize_t n = 0;
    ds.getSpace().getSimpleExtentDims(&n);
    std::vector<double> v(n);
    if (n) ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    return v;
}

} // namespace

std::string errorHistogramPath(const std::string& layerName) { return "/layers/" + layerName + "/error_histogram"; }

void writeRunArrays(const std::filesystem::path& path, const RunArrays& arrays) {
    const std::filesystem::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
    try {
        H5::Exception::dontPrint();
        {
            H5::H5File file(tmp.string(), H5F_ACC_TRUNC);
            H5::Group layers = file.createGroup("/layers");
            std::string names;
            std::vector<double> bpw, mse, sqnr, maxAbs;
            for (const auto& l : arrays.layers) {
                H5::Group g = layers.createGroup(l.name);
                const hsize_t n = l.errorHistogram.counts.size();
                H5::DataSpace space(1, &n);
                H5::DataSet ds = g.createDataSet("error_histogram", H5::PredType::NATIVE_INT64, space);
                if (n) ds.write(l.errorHistogram.counts.data(), H5::PredType::NATIVE_INT64);
                writeAttr(ds, "lo", H5::PredType::NATIVE_DOUBLE, l.errorHistogram.lo);
                writeAttr(ds, "hi", H5::PredType::NATIVE_DOUBLE, l.errorHistogram.hi);
                writeAttr(ds, "underflow", H5::PredType::NATIVE_INT64, l.errorHistogram.underflow);
                writeAttr(ds, "overflow", H5::PredType::NATIVE_INT64, l.errorHistogram.overflow);
                names += l.name + "\n";
                bpw.push_back(l.bitsPerWeight);
                mse.push_back(l.mse);
                sqnr.push_back(l.sqnrDb);
                maxAbs.push_back(l.maxAbsError);
            }
            H5::Group per = file.createGroup("/per_layer");
            writeDoubles(per, "bits_per_weight", bpw);
            writeDoubles(per, "mse", mse);
            writeDoubles(per, "sqnr_db", sqnr);
            writeDoubles(per, "max_abs_error", maxAbs);
            H5::StrType str(H5::PredType::C_S1, std::max<std::size_t>(names.size(), 1));
            per.createAttribute("names", str, H5::DataSpace(H5S_SCALAR)).write(str, names.empty() ? std::string(" ") : names);
            file.flush(H5F_SCOPE_GLOBAL);
        } // closed before the rename: the final name only ever points at a complete file
        std::error_code ec;
        std::filesystem::rename(tmp, path, ec);
        if (ec) throw Error(path.string() + ": cannot rename the run's array file into place: " + ec.message());
    } catch (const H5::Exception& e) {
        std::filesystem::remove(tmp);
        throw Error(path.string() + ": cannot write HDF5 arrays: " + e.getDetailMsg());
    }
}

RunArrays readRunArrays(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) throw Error(path.string() + ": the run's HDF5 array file is missing");
    try {
        H5::Exception::dontPrint();
        if (!H5::H5File::isHdf5(path.string()))
            throw Error(path.string() + ": not an HDF5 file (the run's arrays are unreadable; its metrics in the "
                                        "project database are not affected)");
        H5::H5File file(path.string(), H5F_ACC_RDONLY);
        H5::Group per = file.openGroup("/per_layer");
        std::string names;
        H5::Attribute a = per.openAttribute("names");
        a.read(a.getStrType(), names);
        const auto bpw = readDoubles(per, "bits_per_weight"), mse = readDoubles(per, "mse"),
                   sqnr = readDoubles(per, "sqnr_db"), maxAbs = readDoubles(per, "max_abs_error");
        RunArrays out;
        std::istringstream is(names);
        std::string name;
        std::size_t i = 0;
        while (std::getline(is, name)) {
            if (name.empty() || name == " ") continue;
            if (i >= bpw.size() || i >= mse.size() || i >= sqnr.size() || i >= maxAbs.size())
                throw Error(path.string() + ": /per_layer arrays are shorter than the layer list");
            LayerArrays l;
            l.name = name;
            l.bitsPerWeight = bpw[i];
            l.mse = mse[i];
            l.sqnrDb = sqnr[i];
            l.maxAbsError = maxAbs[i];
            H5::DataSet ds = file.openDataSet(errorHistogramPath(name));
            hsize_t n = 0;
            ds.getSpace().getSimpleExtentDims(&n);
            l.errorHistogram.counts.resize(n);
            if (n) ds.read(l.errorHistogram.counts.data(), H5::PredType::NATIVE_INT64);
            l.errorHistogram.lo = readAttr<double>(ds, "lo", H5::PredType::NATIVE_DOUBLE);
            l.errorHistogram.hi = readAttr<double>(ds, "hi", H5::PredType::NATIVE_DOUBLE);
            l.errorHistogram.underflow = readAttr<std::int64_t>(ds, "underflow", H5::PredType::NATIVE_INT64);
            l.errorHistogram.overflow = readAttr<std::int64_t>(ds, "overflow", H5::PredType::NATIVE_INT64);
            out.layers.push_back(std::move(l));
            ++i;
        }
        return out;
    } catch (const H5::Exception& e) {
        throw Error(path.string() + ": unreadable HDF5 run arrays: " + e.getDetailMsg());
    }
}

} // namespace qs::core
