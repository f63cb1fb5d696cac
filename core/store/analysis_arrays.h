// SPDX-License-Identifier: MIT
#pragma once
#include <Eigen/Core>
#include <filesystem>
#include <map>
#include <string>

namespace qs::core {

/// Named float64 matrices of one stored analysis, one HDF5 file per analysis:
///   /<name>   float64 [rows, cols]
/// Values come back bit-identical. Writing is crash-safe (a temporary file renamed into place).
/// Errors name the file.
void writeAnalysisArrays(const std::filesystem::path& path, const std::map<std::string, Eigen::MatrixXd>& arrays);
std::map<std::string, Eigen::MatrixXd> readAnalysisArrays(const std::filesystem::path& path);

} // namespace qs::core
