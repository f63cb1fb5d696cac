// SPDX-License-Identifier: MIT
// What the mixed-precision solvers share (mp_solver.cpp: greedy, local search, the entry points;
// mp_branch_bound.cpp: the exact search). Not part of the core's interface.
#pragma once
#include "analysis/mp_solver.h"

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace qs::core::mp_detail {


constexpr double kInf = std::numeric_limits<double>::infinity();

/// The budget as every solver tests it: the relative slack lets sums taken in another order still fit.
inline double capacityOf(double budget) {
    return budget + 1e-9 * std::abs(budget);
}

/// A move must improve by more than rounding, or descents could cycle on noise.
inline double slack(double v) {
    return 1e-12 * std::max(1.0, std::abs(v));
}

inline std::string num(double v) {
    std::ostringstream s;
    s.precision(15);
    s << v;
    return s.str();
}

/// Wall clock of one solve; a NaN limit counts as 0 so that nothing can run unbounded by mistake.
class Clock {
public:
    explicit Clock(double limitSeconds) : m_limit(std::isnan(limitSeconds) ? 0.0 : limitSeconds) {}
    double seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    }
    bool expired() const { return seconds() >= m_limit; }
    double left() const { return std::max(0.0, m_limit - seconds()); }

private:
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
    double m_limit;
};

/// The problem with one flat index per option (i = offset[g] + b). `pair` is the interaction made
/// exactly symmetric from the upper triangle (what the objective reads) with the same-group blocks
/// zeroed, so column i is "the interaction of every option with option i"; 0x0 when additive.
struct Flat {
    int groups = 0, n = 0;
    std::vector<int> offset, groupOf;
    std::vector<double> w, s;
    Eigen::MatrixXd pair;
    double capacity = 0;

    bool additive() const { return pair.size() == 0; }
    int begin(int g) const { return offset[g]; }
    int end(int g) const { return offset[g + 1]; }
};

inline Flat flatten(const MpProblem& p) {
    Flat f;
    f.groups = static_cast<int>(p.cost.size());
    f.offset.push_back(0);
    for (int g = 0; g < f.groups; ++g) {
        for (std::size_t b = 0; b < p.cost[g].size(); ++b) {
            f.groupOf.push_back(g);
            f.w.push_back(p.cost[g][b]);
            f.s.push_back(p.single[g][b]);
        }
        f.offset.push_back(static_cast<int>(f.w.size()));
    }
    f.n = static_cast<int>(f.w.size());
    f.capacity = capacityOf(p.budget);
    if (p.interaction.size() == 0) return f;
    f.pair = p.interaction.selfadjointView<Eigen::Upper>();
    for (int g = 0; g < f.groups; ++g)
        f.pair.block(f.begin(g), f.begin(g), f.end(g) - f.begin(g), f.end(g) - f.begin(g)).setZero();
    return f;
}

/// Per group the cheapest option, ties to the lowest single value, then the lowest index.
inline std::vector<int> cheapestPicks(const Flat& f) {
    std::vector<int> picks(f.groups);
    for (int g = 0; g < f.groups; ++g) {
        int best = f.begin(g);
        for (int i = best + 1; i < f.end(g); ++i)
            if (f.w[i] < f.w[best] || (f.w[i] == f.w[best] && f.s[i] < f.s[best])) best = i;
        picks[g] = best;
    }
    return picks;
}

inline std::vector<int> choiceOf(const Flat& f, const std::vector<int>& picks) {
    std::vector<int> c(picks.size());
    for (int g = 0; g < f.groups; ++g)
        c[g] = picks[g] - f.begin(g);
    return c;
}

inline MpSolution makeSolution(const MpProblem& p, std::vector<int> choice, const char* solver, long long nodes,
                        const Clock& clock, double bound, bool optimal) {
    MpSolution r;
    r.objective = mpObjective(p, choice);
    r.cost = mpCost(p, choice);
    r.choice = std::move(choice);
    r.optimal = optimal;
    r.bound = optimal ? r.objective : std::min(bound, r.objective);
    r.gap = optimal ? 0.0 : (r.objective - r.bound) / std::max(1e-12, std::abs(r.objective));
    r.nodes = nodes;
    r.seconds = clock.seconds();
    r.solver = solver;
    return r;
}

/// The exact search from a feasible start (a choice, not flat indices): best found, its node count,
/// the open nodes' bound when a limit stopped it.
MpSolution branchAndBound(const MpProblem& p, const Flat& f, std::vector<int> start, const MpSolveOptions& opt,
                          const Clock& clock, const JobContext& job);

} // namespace qs::core::mp_detail
