// SPDX-License-Identifier: MIT
#include "analysis/mp_solver.h"

#include "analysis/mp_solver_internal.h"
#include "base/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <tuple>
#include <utility>

namespace qs::core {
namespace {

using namespace mp_detail;

/// A full choice with field[i] = sum over the other groups h of pair(i, pick of h), which makes the
/// objective change of a one- or two-group move O(1) and applying a move O(n).
struct Assignment {
    const Flat* f;
    std::vector<int> pick;
    std::vector<double> field;
    double objective = 0, cost = 0;

    Assignment(const Flat& flat, std::vector<int> picks) : f(&flat), pick(std::move(picks)) {
        field.assign(f->n, 0.0);
        if (!f->additive())
            for (int p : pick)
                Eigen::Map<Eigen::VectorXd>(field.data(), f->n) += f->pair.col(p);
        for (int p : pick)
            objective += f->s[p] + 0.5 * field[p];
        recost();
    }
    /// Objective change and extra cost of switching option i's group to i.
    double gain(int i) const {
        const int cur = pick[f->groupOf[i]];
        return f->s[i] - f->s[cur] + field[i] - field[cur];
    }
    double extra(int i) const { return f->w[i] - f->w[pick[f->groupOf[i]]]; }
    bool picked(int i) const { return pick[f->groupOf[i]] == i; }
    double pairOf(int i, int j) const { return f->additive() ? 0.0 : f->pair(i, j); }
    void move(int i) {
        const int g = f->groupOf[i], old = pick[g];
        objective += gain(i);
        if (!f->additive())
            Eigen::Map<Eigen::VectorXd>(field.data(), f->n) += f->pair.col(i) - f->pair.col(old);
        pick[g] = i;
        recost();
    }
    /// Summed in group order, as mpCost does, so that "within budget" means the same everywhere.
    void recost() {
        cost = 0;
        for (int p : pick)
            cost += f->w[p];
    }
};

/// The greedy rule: among improving changes that fit, one that also saves cost (largest gain) beats
/// any that costs more (best gain per unit of cost); ties go to the lowest flat index.
long long greedyDescent(Assignment& a, const JobContext& job) {
    long long examined = 0;
    for (;;) {
        job.checkCancel();
        int best = -1;
        bool bestFree = false;
        double bestKey = 0;
        for (int i = 0; i < a.f->n; ++i) {
            if (a.picked(i)) continue;
            ++examined;
            const double d = a.gain(i), dw = a.extra(i);
            if (d >= -slack(a.objective) || a.cost + dw > a.f->capacity) continue;
            const bool isFree = dw <= 0;
            const double key = isFree ? d : d / dw;
            if (best < 0 || (isFree && !bestFree) || (isFree == bestFree && key < bestKey))
                best = i, bestFree = isFree, bestKey = key;
        }
        if (best < 0) return examined;
        a.move(best);
    }
}

/// Best two-group move that fits and improves by more than `need`; {-1, -1} when none.
std::pair<int, int> bestPairMove(const Assignment& a, const std::vector<double>& gain, double need,
                                 const Clock& clock, const JobContext& job, long long& examined) {
    const Flat& f = *a.f;
    std::pair<int, int> best{-1, -1};
    double bestGain = -need;
    for (int g = 0; g < f.groups && !clock.expired(); ++g) {
        job.checkCancel();
        for (int h = g + 1; h < f.groups; ++h) {
            const int pg = a.pick[g], ph = a.pick[h];
            for (int i = f.begin(g); i < f.end(g); ++i) {
                if (i == pg) continue;
                const double gi = gain[i] - a.pairOf(i, ph) + a.pairOf(pg, ph);
                for (int j = f.begin(h); j < f.end(h); ++j) {
                    if (j == ph) continue;
                    ++examined;
                    const double d = gi + gain[j] + a.pairOf(i, j) - a.pairOf(pg, j);
                    if (d < bestGain && a.cost + a.extra(i) + a.extra(j) <= f.capacity)
                        best = {i, j}, bestGain = d;
                }
            }
        }
    }
    return best;
}

/// Best-improvement descent: one-group moves while any improves, then two-group moves (which can
/// trade budget between groups); stops at a local optimum or when the clock runs out.
long long descend(Assignment& a, const Clock& clock, const JobContext& job) {
    const Flat& f = *a.f;
    long long examined = 0;
    std::vector<double> gain(f.n);
    while (!clock.expired()) {
        job.checkCancel();
        const double need = slack(a.objective);
        std::pair<int, int> best{-1, -1};
        double bestGain = -need;
        for (int i = 0; i < f.n; ++i) {
            gain[i] = a.gain(i);
            if (!a.picked(i) && gain[i] < bestGain && a.cost + a.extra(i) <= f.capacity)
                best = {i, -1}, bestGain = gain[i];
        }
        examined += f.n;
        if (best.first < 0) best = bestPairMove(a, gain, need, clock, job, examined);
        if (best.first < 0) break;
        a.move(best.first);
        if (best.second >= 0) a.move(best.second);
    }
    return examined;
}

/// A random feasible start: from the cheapest picks, visit the groups in random order and give each
/// a uniformly drawn option among those that still fit. rng() % k keeps it the same on every library.
std::vector<int> randomStart(const Flat& f, std::mt19937_64& rng) {
    std::vector<int> picks = cheapestPicks(f), order(f.groups), fits;
    double cost = 0;
    for (int g = 0; g < f.groups; ++g)
        order[g] = g, cost += f.w[picks[g]];
    for (int k = f.groups - 1; k > 0; --k)
        std::swap(order[k], order[rng() % (k + 1)]);
    for (int g : order) {
        fits.clear();
        for (int i = f.begin(g); i < f.end(g); ++i)
            if (cost - f.w[picks[g]] + f.w[i] <= f.capacity) fits.push_back(i);
        const int i = fits[rng() % fits.size()];
        cost += f.w[i] - f.w[picks[g]];
        picks[g] = i;
    }
    return picks;
}

MpSolution localSearch(const MpProblem& p, const Flat& f, const MpSolveOptions& opt, const Clock& clock,
                       const JobContext& job) {
    Assignment first(f, cheapestPicks(f));
    long long examined = greedyDescent(first, job);
    std::vector<std::vector<int>> starts{first.pick};
    if (!f.additive()) {
        const MpProblem alone{p.cost, p.single, {}, p.budget};
        MpSolveOptions sub = opt;
        sub.timeLimitSeconds = clock.left() / 4;
        sub.nodeLimit = std::max(1LL, opt.nodeLimit / 4);
        sub.restarts = std::min(opt.restarts, 2);
        const MpSolution s = solveExact(alone, sub, job);
        starts.push_back(s.choice);
        for (int g = 0; g < f.groups; ++g)
            starts.back()[g] += f.begin(g);
    }
    std::mt19937_64 rng(opt.seed);
    for (int r = 0; r < opt.restarts; ++r)
        starts.push_back(randomStart(f, rng));

    std::vector<int> best;
    double bestObjective = kInf;
    for (const std::vector<int>& start : starts) {
        Assignment a(f, start);
        examined += descend(a, clock, job);
        const std::vector<int> choice = choiceOf(f, a.pick);
        const double value = mpObjective(p, choice);
        if (value < bestObjective) best = choice, bestObjective = value;
    }
    return makeSolution(p, best, "local-search", examined, clock, -kInf, false);
}

void checkChoice(const MpProblem& p, const std::vector<int>& choice) {
    if (choice.size() != p.cost.size())
        throw Error("mixed-precision choice has " + std::to_string(choice.size()) + " entries for " +
                    std::to_string(p.cost.size()) + " groups");
    for (std::size_t g = 0; g < choice.size(); ++g)
        if (choice[g] < 0 || choice[g] >= static_cast<int>(p.cost[g].size()))
            throw Error("mixed-precision choice: option " + std::to_string(choice[g]) + " of group " +
                        std::to_string(g) + " does not exist");
}

} // namespace

double mpObjective(const MpProblem& p, const std::vector<int>& choice) {
    checkChoice(p, choice);
    std::vector<int> flat(choice.size());
    for (std::size_t g = 0, off = 0; g < choice.size(); off += p.cost[g].size(), ++g)
        flat[g] = static_cast<int>(off) + choice[g];
    double value = 0;
    for (std::size_t g = 0; g < choice.size(); ++g) {
        value += p.single[g][choice[g]];
        if (p.interaction.size() == 0) continue;
        for (std::size_t h = g + 1; h < choice.size(); ++h)
            value += p.interaction(flat[g], flat[h]);
    }
    return value;
}

double mpCost(const MpProblem& p, const std::vector<int>& choice) {
    checkChoice(p, choice);
    double cost = 0;
    for (std::size_t g = 0; g < choice.size(); ++g)
        cost += p.cost[g][choice[g]];
    return cost;
}

void checkMpProblem(const MpProblem& p) {
    const std::string what = "mixed-precision problem: ";
    if (p.cost.size() != p.single.size())
        throw Error(what + "cost has " + std::to_string(p.cost.size()) + " groups but single has " +
                    std::to_string(p.single.size()));
    std::vector<int> groupOf;
    double minCost = 0;
    for (std::size_t g = 0; g < p.cost.size(); ++g) {
        const std::string at = "group " + std::to_string(g);
        if (p.cost[g].empty()) throw Error(what + at + " has no options");
        if (p.single[g].size() != p.cost[g].size())
            throw Error(what + at + ": cost has " + std::to_string(p.cost[g].size()) +
                        " options but single has " + std::to_string(p.single[g].size()));
        for (std::size_t b = 0; b < p.cost[g].size(); ++b) {
            if (!std::isfinite(p.cost[g][b]) || p.cost[g][b] < 0)
                throw Error(what + at + " option " + std::to_string(b) + ": cost " + num(p.cost[g][b]) +
                            " must be finite and >= 0");
            if (!std::isfinite(p.single[g][b]))
                throw Error(what + at + " option " + std::to_string(b) + ": single " + num(p.single[g][b]) +
                            " must be finite");
            groupOf.push_back(static_cast<int>(g));
        }
        minCost += *std::min_element(p.cost[g].begin(), p.cost[g].end());
    }
    const auto n = static_cast<Eigen::Index>(groupOf.size());
    const Eigen::MatrixXd& q = p.interaction;
    if (q.size() != 0 && (q.rows() != n || q.cols() != n))
        throw Error(what + "interaction is " + std::to_string(q.rows()) + "x" + std::to_string(q.cols()) +
                    " but the groups have " + std::to_string(n) + " options in all");
    for (Eigen::Index j = 0; j < q.cols(); ++j)
        for (Eigen::Index i = 0; i < j; ++i) {
            if (groupOf[i] == groupOf[j]) continue;
            const bool finite = std::isfinite(q(i, j)) && std::isfinite(q(j, i));
            if (finite &&
                std::abs(q(i, j) - q(j, i)) <= 1e-9 * std::max(std::abs(q(i, j)), std::abs(q(j, i))))
                continue;
            throw Error(what + "interaction(" + std::to_string(i) + "," + std::to_string(j) +
                        ") = " + num(q(i, j)) + " and its mirror " + num(q(j, i)) +
                        (finite ? " differ" : " must be finite"));
        }
    if (std::isnan(p.budget)) throw Error(what + "budget is not a number");
    if (minCost > capacityOf(p.budget))
        throw Error(what + "budget " + num(p.budget) + " is below the smallest possible cost " +
                    num(minCost));
}

MpSolution solveExactFrom(const MpProblem& p, const std::vector<int>& start, const MpSolveOptions& opt,
                          const JobContext& job) {
    checkMpProblem(p);
    if (mpCost(p, start) > capacityOf(p.budget))
        throw Error("mixed-precision start costs " + num(mpCost(p, start)) + ", over the budget " +
                    num(p.budget));
    return branchAndBound(p, flatten(p), start, opt, Clock(opt.timeLimitSeconds), job);
}

MpSolution solveExact(const MpProblem& p, const MpSolveOptions& opt, const JobContext& job) {
    checkMpProblem(p);
    const Clock clock(opt.timeLimitSeconds);
    const Flat f = flatten(p);
    const MpSolution start = localSearch(p, f, opt, Clock(opt.timeLimitSeconds / 2), job);
    return branchAndBound(p, f, start.choice, opt, clock, job);
}

MpSolution solveGreedy(const MpProblem& p, const JobContext& job) {
    checkMpProblem(p);
    const Clock clock(kInf);
    const Flat f = flatten(p);
    Assignment a(f, cheapestPicks(f));
    const long long examined = greedyDescent(a, job);
    return makeSolution(p, choiceOf(f, a.pick), "greedy", examined, clock, -kInf, false);
}

MpSolution solveLocalSearch(const MpProblem& p, const MpSolveOptions& opt, const JobContext& job) {
    checkMpProblem(p);
    const Flat f = flatten(p);
    return localSearch(p, f, opt, Clock(opt.timeLimitSeconds), job);
}

} // namespace qs::core
