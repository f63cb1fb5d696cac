// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// Mixed-precision allocation as CLADO poses it: pick one option (a bit width, a format) per decision
/// group so that the predicted loss change is smallest while the total cost stays within a budget.
/// With no interaction terms it is the additive (HAWQ-style) multiple-choice knapsack.
///
/// objective(x) = sum_g single[g][x_g] + sum_{g<h} interaction(off(g)+x_g, off(h)+x_h)
struct MpProblem {
    /// cost[g][b]: what choosing option b for decision group g costs (e.g. bits = params x bits/weight,
    /// bytes, cycles); finite and >= 0. Every group has >= 1 option.
    std::vector<std::vector<double>> cost;
    /// single[g][b]: predicted loss change when only group g takes option b (same shape as cost).
    std::vector<std::vector<double>> single;
    /// Pairwise interaction terms, flat index i = offset(g) + b over all options (offset = sum of the
    /// option counts of the groups before g): n x n, symmetric; entries between two options of the same
    /// group are ignored. Empty (0x0) = additive problem (no interactions).
    Eigen::MatrixXd interaction;
    double budget = 0; ///< sum of chosen costs must be <= budget (+ 1e-9 relative tolerance)
};

/// Limits of one solve. The time limit makes a result depend on the machine's speed; the node limit
/// does not, so reproducible runs that may stop early should rely on nodeLimit.
struct MpSolveOptions {
    double timeLimitSeconds = 10;
    long long nodeLimit = 50'000'000;
    int restarts = 8;       ///< random feasible starts of the local search
    std::uint64_t seed = 1; ///< seeds those starts (std::mt19937_64), so equal inputs give equal outputs
};

struct MpSolution {
    std::vector<int> choice; ///< option per group
    double objective = 0;    ///< objective(choice)
    double cost = 0;         ///< sum of chosen costs
    /// Proven lower bound on the optimum (== objective when optimal); -inf when the method proves none.
    double bound = 0;
    double gap = 0; ///< (objective - bound) / max(1e-12, |objective|); 0 when optimal; +inf when no bound
    bool optimal = false; ///< proven optimal (to a 1e-12 relative tolerance)
    long long nodes = 0;  ///< branch-and-bound nodes (exact) / moves examined (greedy, local search)
    double seconds = 0;
    std::string solver; ///< "exact", "greedy", "local-search"
};

/// The objective of a full choice, summed exactly as the formula above reads (group order, upper
/// triangle of the interaction). Throws Error when the choice does not fit the problem's shape.
double mpObjective(const MpProblem&, const std::vector<int>& choice);
/// Sum of the chosen costs in group order. Throws Error when the choice does not fit.
double mpCost(const MpProblem&, const std::vector<int>& choice);

/// Throws qs::core::Error: shape mismatch, non-finite/negative cost, non-finite single or interaction,
/// asymmetric interaction (tolerance 1e-9 relative), and "budget B is below the smallest possible cost
/// C" when no choice fits the budget.
void checkMpProblem(const MpProblem&);

/// Branch and bound, exact also for indefinite interactions: depth-first over the groups, each node
/// bounded by the LP relaxation of the multiple-choice knapsack left below it (see the .cpp). Stops at
/// the time or node limit with the best choice found, bound = the smallest bound of the nodes left open.
MpSolution solveExact(const MpProblem&, const MpSolveOptions& = {}, const JobContext& job = {});
/// The branch and bound of solveExact started from `start` (a feasible choice) instead of the heuristics'
/// best: a warm start, e.g. the solution for a nearby budget. Throws Error when `start` does not fit.
MpSolution solveExactFrom(const MpProblem&, const std::vector<int>& start, const MpSolveOptions& = {},
                          const JobContext& job = {});
/// From the cheapest option per group, take the single-group change that lowers the objective most
/// per unit of extra cost (changes that also lower the cost first) until none lowers it. No bound.
MpSolution solveGreedy(const MpProblem&, const JobContext& job = {});
/// Descent with one- and two-group moves from the greedy choice, the additive problem's solution and
/// `restarts` random feasible starts; the best of all. Never worse than solveGreedy. No bound.
MpSolution solveLocalSearch(const MpProblem&, const MpSolveOptions& = {}, const JobContext& job = {});

} // namespace qs::core
