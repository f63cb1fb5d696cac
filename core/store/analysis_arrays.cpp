// SPDX-License-Identifier: MIT
#include "store/analysis_arrays.h"

#include "base/error.h"
#include "io/hdf5_file.h"

#include <unistd.h>
#include <vector>

namespace qs::core {

using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void writeAnalysisArrays(const std::filesystem::path& path, const std::map<std::string, Eigen::MatrixXd>& arrays) {
    const std::filesystem::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
    try {
        {
            Hdf5File file(tmp, Hdf5File::Mode::Truncate);
            for (const auto& [name, m] : arrays) {
                if (m.size() == 0) continue; // nothing to keep; a reader treats it as absent
                const RowMajorD rows = m;
                file.writeF64("/" + name, Shape{m.rows(), m.cols()}, rows.data());
            }
            file.flush();
        }
        std::filesystem::rename(tmp, path);
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw;
    }
}

std::map<std::string, Eigen::MatrixXd> readAnalysisArrays(const std::filesystem::path& path) {
    const Hdf5File file(path, Hdf5File::Mode::Read);
    std::map<std::string, Eigen::MatrixXd> out;
    for (const std::string& name : file.listDatasets("/")) {
        Shape shape;
        const std::vector<double> values = file.readF64(name, &shape);
        if (shape.size() != 2) throw Error(path.string() + ": analysis array '" + name + "' is not a matrix");
        out[name.substr(1)] = Eigen::Map<const RowMajorD>(values.data(), shape[0], shape[1]);
    }
    return out;
}

} // namespace qs::core
