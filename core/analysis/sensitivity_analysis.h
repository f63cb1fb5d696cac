// SPDX-License-Identifier: MIT
#pragma once
#include "analysis/analysis.h"
#include "analysis/sensitivity.h"

namespace qs::core {

/// "sensitivity": measureSensitivity as a registered analysis. Parameters: formats (the candidates,
/// comma-separated [METHOD/]SPEC or keep), groups (fused | each), pairs (CLADO's pairwise terms),
/// pair_distance, far_pair_sample, hawq_probes, seed, prefix_cache. Arrays: delta_loss, kld, top1, local_error, hawq,
/// bits_per_weight [groups x candidates], hessian_trace [groups x 1], interaction and
/// interaction_kld [n x n].
class SensitivityAnalysis : public Analysis {
public:
    std::string_view name() const override { return "sensitivity"; }
    std::string_view summary() const override {
        return "per-group loss/KL change for each candidate format, proxies, CLADO pair terms";
    }
    const ParamSchema& params() const override;
    /// 2: HAWQ's traces by exact Hessian-vector products (revision 1: second differences).
    int revision() const override { return 2; }
    AnalysisOutput run(const AnalysisInput& input, const nlohmann::json& params, const JobContext& job) const override;
};

/// The options a validated parameter object stands for.
SensitivityOptions sensitivityOptionsFromParams(const nlohmann::json& params, const MethodRegistries& registries);

/// A SensitivityResult back from its stored output (summary + arrays), for the mixed-precision solvers.
/// Throws Error naming what is missing.
SensitivityResult sensitivityFromOutput(const AnalysisOutput& output);

} // namespace qs::core
