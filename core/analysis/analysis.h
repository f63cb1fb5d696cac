// SPDX-License-Identifier: MIT
// The analysis registry's entry: an analysis declares its parameters once (CLI flags, GUI form and
// stored settings all come from the schema) and turns a model and a data set into a stored result.
#pragma once
#include "base/job.h"
#include "base/param_schema.h"
#include "data/calib_data.h"
#include "model/model.h"
#include "quant/method_registries.h"

#include <Eigen/Core>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qs::core {

/// What an analysis runs on.
struct AnalysisInput {
    const Model& model;
    const CalibrationData& set; ///< the fixed windows every evaluation of the analysis uses
    const MethodRegistries& registries;
    /// Calibration data for calibrated methods the analysis runs (e.g. a GPTQ recipe's direction),
    /// when the request names one; null otherwise.
    const CalibrationData* calibration = nullptr;
};

/// What an analysis found, in the three shapes the store keeps: a JSON summary (the CLI's --json and
/// the views read it), one row per layer or group (SQLite rows: queryable), and named matrices (HDF5).
struct AnalysisOutput {
    nlohmann::json summary = nlohmann::json::object();
    std::vector<std::pair<std::string, nlohmann::json>> rows; ///< (label, values)
    std::map<std::string, Eigen::MatrixXd> arrays;
};

class Analysis {
public:
    virtual ~Analysis() = default;
    /// Registry key and CLI command, e.g. "sensitivity".
    virtual std::string_view name() const = 0;
    /// One line for listings.
    virtual std::string_view summary() const = 0;
    /// Its parameters (validated with validateParams before run()).
    virtual const ParamSchema& params() const = 0;
    /// Raised when the same parameters come to mean other numbers (a better algorithm): a stored
    /// result of an older revision is then recomputed, not re-opened. Revision 1 is not keyed.
    virtual int revision() const { return 1; }
    /// Runs it (progress and cancel through `job`); deterministic for the same input and parameters.
    /// Throws Error for inputs it cannot use, Cancelled.
    virtual AnalysisOutput run(const AnalysisInput& input, const nlohmann::json& params, const JobContext& job) const = 0;
};

} // namespace qs::core
