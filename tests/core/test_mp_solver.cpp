// SPDX-License-Identifier: MIT
// The mixed-precision allocation solvers against brute-force enumeration written here (and, for larger
// additive instances with integer costs, a dynamic program over the budget).
#include "analysis/mp_solver.h"
#include "base/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <random>

using namespace qs::core;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double uniform(std::mt19937_64& rng, double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
}
int uniformInt(std::mt19937_64& rng, int lo, int hi) {
    return lo + static_cast<int>(rng() % (hi - lo + 1));
}

int optionCount(const MpProblem& p) {
    int n = 0;
    for (const auto& c : p.cost)
        n += static_cast<int>(c.size());
    return n;
}

double minCost(const MpProblem& p) {
    double c = 0;
    for (const auto& g : p.cost)
        c += *std::min_element(g.begin(), g.end());
    return c;
}
double maxCost(const MpProblem& p) {
    double c = 0;
    for (const auto& g : p.cost)
        c += *std::max_element(g.begin(), g.end());
    return c;
}

// Random instance: integer costs (so budgets can sit exactly on sums), singles in [-1, 2), and when
// `pairs` an indefinite symmetric interaction (entries spread around a random centre) with junk (asymmetric,
// huge) in the same-group blocks, which the solvers must ignore. Budget between the smallest and the largest
// cost, sometimes an integer.
MpProblem randomProblem(std::uint64_t seed, int groups, int maxOptions, bool pairs) {
    std::mt19937_64 rng(seed);
    MpProblem p;
    for (int g = 0; g < groups; ++g) {
        const int m = uniformInt(rng, 1, maxOptions);
        p.cost.emplace_back();
        p.single.emplace_back();
        for (int b = 0; b < m; ++b) {
            p.cost.back().push_back(uniformInt(rng, 0, 8));
            p.single.back().push_back(uniform(rng, -1, 2));
        }
    }
    if (pairs) {
        const int n = optionCount(p);
        p.interaction = Eigen::MatrixXd::Zero(n, n);
        const double centre = uniform(rng, -0.4, 0.4); // row minima of either sign
        for (int j = 0; j < n; ++j)
            for (int i = 0; i <= j; ++i)
                p.interaction(i, j) = p.interaction(j, i) = centre + uniform(rng, -0.6, 0.6);
        for (int g = 0, off = 0; g < groups; off += static_cast<int>(p.cost[g].size()), ++g)
            for (std::size_t a = 0; a < p.cost[g].size(); ++a)
                for (std::size_t b = 0; b < p.cost[g].size(); ++b)
                    p.interaction(off + a, off + b) = 1e6 * (static_cast<double>(a) - 2.0 * b + 1);
    }
    const double lo = minCost(p), hi = maxCost(p), u = uniform(rng, 0, 1);
    p.budget = lo + u * (hi - lo);
    if (rng() % 2) p.budget = std::floor(p.budget);
    return p;
}

// The objective as the header's formula reads, written independently of the solver.
double refObjective(const MpProblem& p, const std::vector<int>& x) {
    std::vector<int> off(x.size() + 1, 0);
    for (std::size_t g = 0; g < x.size(); ++g)
        off[g + 1] = off[g] + static_cast<int>(p.cost[g].size());
    double v = 0;
    for (std::size_t g = 0; g < x.size(); ++g) {
        v += p.single[g][x[g]];
        if (p.interaction.size())
            for (std::size_t h = g + 1; h < x.size(); ++h)
                v += p.interaction(off[g] + x[g], off[h] + x[h]);
    }
    return v;
}
double refCost(const MpProblem& p, const std::vector<int>& x) {
    double c = 0;
    for (std::size_t g = 0; g < x.size(); ++g)
        c += p.cost[g][x[g]];
    return c;
}
bool feasible(const MpProblem& p, const std::vector<int>& x) {
    return refCost(p, x) <= p.budget + 1e-9 * std::abs(p.budget);
}

// Smallest objective over every feasible choice, by enumeration.
double bruteForce(const MpProblem& p) {
    std::vector<int> x(p.cost.size(), 0);
    double best = kInf;
    for (;;) {
        if (feasible(p, x)) best = std::min(best, refObjective(p, x));
        std::size_t g = 0;
        while (g < x.size() && ++x[g] == static_cast<int>(p.cost[g].size()))
            x[g++] = 0;
        if (g == x.size()) return best;
    }
}

std::vector<int> cheapestChoice(const MpProblem& p) {
    std::vector<int> x;
    for (const auto& g : p.cost)
        x.push_back(static_cast<int>(std::min_element(g.begin(), g.end()) - g.begin()));
    return x;
}

void expectExact(const MpProblem& p, const MpSolution& s, const std::string& what) {
    SCOPED_TRACE(what);
    ASSERT_EQ(s.choice.size(), p.cost.size());
    EXPECT_TRUE(feasible(p, s.choice));
    EXPECT_TRUE(s.optimal);
    EXPECT_NEAR(s.objective, bruteForce(p), 1e-9);
    EXPECT_NEAR(s.objective, refObjective(p, s.choice), 1e-12);
    EXPECT_EQ(s.bound, s.objective);
    EXPECT_EQ(s.gap, 0.0);
    EXPECT_EQ(s.solver, "exact");
}

} // namespace

TEST(MpSolver, ExactMatchesBruteForceWithIndefiniteInteractions) {
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        const MpProblem p = randomProblem(seed, 1 + static_cast<int>(seed % 12), 3, true);
        const std::string what = "seed " + std::to_string(seed);
        expectExact(p, solveExact(p), what);
        // From the cheapest choice the search itself must find the optimum, not the heuristics.
        expectExact(p, solveExactFrom(p, cheapestChoice(p)), what + " from the cheapest choice");
    }
}

TEST(MpSolver, ExactMatchesBruteForceOnAdditiveProblems) {
    for (std::uint64_t seed = 101; seed <= 140; ++seed) {
        const MpProblem p = randomProblem(seed, 1 + static_cast<int>(seed % 12), 3, false);
        const std::string what = "seed " + std::to_string(seed);
        expectExact(p, solveExact(p), what);
        expectExact(p, solveExactFrom(p, cheapestChoice(p)), what + " from the cheapest choice");
    }
}

TEST(MpSolver, AdditiveExactMatchesADynamicProgramOnLargerInstances) {
    for (std::uint64_t seed = 201; seed <= 205; ++seed) {
        const MpProblem p = randomProblem(seed, 60, 4, false);
        const int cap = static_cast<int>(std::floor(p.budget));
        // best[c] = smallest objective of the groups so far with total cost exactly c
        std::vector<double> best(cap + 1, kInf);
        best[0] = 0;
        for (std::size_t g = 0; g < p.cost.size(); ++g) {
            std::vector<double> next(cap + 1, kInf);
            for (int c = 0; c <= cap; ++c)
                for (std::size_t b = 0; b < p.cost[g].size() && best[c] < kInf; ++b)
                    if (const int to = c + static_cast<int>(p.cost[g][b]); to <= cap)
                        next[to] = std::min(next[to], best[c] + p.single[g][b]);
            best = next;
        }
        const MpSolution s = solveExact(p);
        EXPECT_TRUE(s.optimal) << seed;
        EXPECT_TRUE(feasible(p, s.choice)) << seed;
        EXPECT_NEAR(s.objective, *std::min_element(best.begin(), best.end()), 1e-9) << seed;
    }
}

TEST(MpSolver, BudgetBelowTheSmallestCostIsAnErrorNamingBothNumbers) {
    MpProblem p;
    p.cost = {{2, 4}, {1, 3}};
    p.single = {{0.5, 0.1}, {0.3, 0.2}};
    p.budget = 2.5;
    for (auto solve : {+[](const MpProblem& q) { return solveExact(q); },
                       +[](const MpProblem& q) { return solveGreedy(q); },
                       +[](const MpProblem& q) { return solveLocalSearch(q); }}) {
        try {
            solve(p);
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            const std::string m = e.what();
            EXPECT_NE(m.find("budget 2.5 is below the smallest possible cost 3"), std::string::npos) << m;
        }
    }
    p.budget = 3; // exactly the smallest cost: the cheapest choice is the only one and it fits
    for (const MpSolution& s : {solveExact(p), solveGreedy(p), solveLocalSearch(p)}) {
        EXPECT_EQ(s.choice, (std::vector<int>{0, 0})) << s.solver;
        EXPECT_EQ(s.cost, 3.0);
    }
}

TEST(MpSolver, MalformedProblemsAreErrors) {
    MpProblem good;
    good.cost = {{1, 2}, {1}};
    good.single = {{0, -1}, {0}};
    good.interaction = Eigen::MatrixXd::Zero(3, 3);
    good.interaction(0, 1) = 5; // same group: ignored, may be asymmetric
    good.interaction(0, 2) = good.interaction(2, 0) = 0.25;
    good.budget = 10;
    EXPECT_NO_THROW(checkMpProblem(good));
    EXPECT_EQ(solveExact(good).objective, -1 + 0.0);

    MpProblem p = good;
    p.single[1].push_back(0);
    EXPECT_THROW(checkMpProblem(p), Error);
    p = good;
    p.cost[0][1] = -1;
    EXPECT_THROW(checkMpProblem(p), Error);
    p = good;
    p.cost[0][1] = std::nan("");
    EXPECT_THROW(checkMpProblem(p), Error);
    p = good;
    p.interaction(2, 0) = 0.26;
    EXPECT_THROW(checkMpProblem(p), Error);
    p = good;
    p.interaction = Eigen::MatrixXd::Zero(2, 2);
    EXPECT_THROW(checkMpProblem(p), Error);
    p = good;
    p.cost[1].clear();
    p.single[1].clear();
    EXPECT_THROW(checkMpProblem(p), Error);
    EXPECT_THROW(mpObjective(good, {0}), Error);
    EXPECT_THROW(mpCost(good, {0, 1}), Error);
}

TEST(MpSolver, PerGroupShiftsMoveTheOptimumByTheirSum) {
    for (std::uint64_t seed = 301; seed <= 320; ++seed) {
        const MpProblem p = randomProblem(seed, 8, 3, seed % 2 == 0);
        MpProblem shifted = p;
        std::mt19937_64 rng(seed);
        double total = 0;
        for (auto& g : shifted.single) {
            const double lambda = uniform(rng, -3, 3);
            total += lambda;
            for (double& v : g)
                v += lambda;
        }
        const MpSolution a = solveExact(p), b = solveExact(shifted);
        EXPECT_NEAR(b.objective - a.objective, total, 1e-9) << seed;
        EXPECT_NEAR(refObjective(p, b.choice), a.objective, 1e-9) << seed; // the argmin is still an argmin
    }
}

TEST(MpSolver, RaisingTheBudgetNeverRaisesTheOptimum) {
    for (std::uint64_t seed = 401; seed <= 410; ++seed) {
        MpProblem p = randomProblem(seed, 9, 3, seed % 2 == 1);
        const double lo = minCost(p), hi = maxCost(p);
        double previous = kInf;
        for (int k = 0; k <= 20; ++k) {
            p.budget = lo + (hi - lo) * k / 20.0;
            const MpSolution s = solveExact(p);
            EXPECT_LE(s.objective, previous + 1e-12) << seed << " budget " << p.budget;
            EXPECT_NEAR(s.objective, bruteForce(p), 1e-9) << seed << " budget " << p.budget;
            previous = s.objective;
        }
    }
}

TEST(MpSolver, HeuristicsAreFeasibleLocalSearchBeatsGreedyAndOftenFindsTheOptimum) {
    int optimalFound = 0, instances = 0;
    for (std::uint64_t seed = 501; seed <= 560; ++seed) {
        const MpProblem p = randomProblem(seed, 1 + static_cast<int>(seed % 10), 3, seed % 3 != 0);
        const MpSolution g = solveGreedy(p), l = solveLocalSearch(p);
        EXPECT_TRUE(feasible(p, g.choice)) << seed;
        EXPECT_TRUE(feasible(p, l.choice)) << seed;
        EXPECT_LE(l.objective, g.objective) << seed;
        EXPECT_NEAR(g.objective, refObjective(p, g.choice), 1e-12) << seed;
        EXPECT_FALSE(g.optimal);
        EXPECT_EQ(l.bound, -kInf);
        EXPECT_EQ(l.gap, kInf);
        EXPECT_EQ(g.solver, "greedy");
        EXPECT_EQ(l.solver, "local-search");
        ++instances;
        optimalFound += std::abs(l.objective - bruteForce(p)) < 1e-9;
    }
    EXPECT_GE(optimalFound, instances * 8 / 10) << optimalFound << " of " << instances;
}

TEST(MpSolver, LocalSearchEndsWhereNoOneOrTwoGroupChangeImproves) {
    for (std::uint64_t seed = 561; seed <= 600; ++seed) {
        const MpProblem p = randomProblem(seed, 5 + static_cast<int>(seed % 16), 4, seed % 4 != 0);
        MpSolveOptions opt;
        opt.restarts = 0; // the greedy and additive starts alone: their descents must end 2-optimal
        const MpSolution l = solveLocalSearch(p, opt);
        const double tolerance = 1e-9;
        for (std::size_t g = 0; g < p.cost.size(); ++g)
            for (std::size_t h = g; h < p.cost.size(); ++h)
                for (std::size_t a = 0; a < p.cost[g].size(); ++a)
                    for (std::size_t b = 0; b < p.cost[h].size(); ++b) {
                        std::vector<int> x = l.choice;
                        x[g] = static_cast<int>(a), x[h] = static_cast<int>(b);
                        if (g == h && a != b) continue;
                        if (!feasible(p, x)) continue;
                        EXPECT_GE(refObjective(p, x), l.objective - tolerance)
                            << seed << ": groups " << g << "," << h << " options " << a << "," << b;
                    }
    }
}

TEST(MpSolver, GreedyTakesTheBestGainPerUnitOfCost) {
    MpProblem p;
    p.cost = {{0, 4}, {0, 1}};
    p.single = {{0, -1}, {0, -0.6}};
    p.budget = 4;
    // Group 1's change gains 0.6 per unit, group 0's only 0.25: group 1 goes first, after which
    // group 0's change no longer fits (the largest gain first would have ended at {1, 0}).
    const MpSolution s = solveGreedy(p);
    EXPECT_EQ(s.choice, (std::vector<int>{0, 1}));
    EXPECT_EQ(s.cost, 1.0);
}

TEST(MpSolver, GreedyBreaksTiesToTheLowerIndex) {
    MpProblem p;
    p.cost = {{1, 0.5, 5}, {1, 3, 2}};
    p.single = {{1, 0.8, 0}, {1, 0, 0.5}};
    p.budget = 4;
    // Starts from the cheapest options {1, 0} (cost 1.5). Group 1's option 1 gains 1 for 2 extra and
    // option 2 gains 0.5 for 1 extra: both 0.5 per unit, the tie goes to the lower index; group 0's
    // option 2 would gain 0.8 but busts the budget. Then nothing improves.
    const MpSolution s = solveGreedy(p);
    EXPECT_EQ(s.choice, (std::vector<int>{1, 1}));
    EXPECT_DOUBLE_EQ(s.cost, 3.5);
}

TEST(MpSolver, GreedyTakesAChangeThatAlsoSavesCostBeforeAnyThatCostsMore) {
    MpProblem p; // groups C, A, B; flat options C0 C1 | A0 A1 | B0 B1 B2
    p.cost = {{0, 1}, {0, 1}, {0, 1, 0.5}};
    p.single = {{0, 0}, {0, -0.1}, {0, -1, -0.4}};
    p.interaction = Eigen::MatrixXd::Zero(7, 7);
    const auto set = [&](int i, int j, double v) { p.interaction(i, j) = p.interaction(j, i) = v; };
    set(3, 6, -2); // A1 with B2
    set(3, 1, -3); // A1 with C1
    set(6, 1, 5);  // B2 with C1: taking one spoils the other
    p.budget = 10;
    // Moves: B1 (best ratio), then A1; now B1 -> B2 gains 1.4 and saves 0.5, while C1 (met first)
    // gains 3 for 1 extra. The saving change comes first, after which C1 no longer improves.
    const MpSolution s = solveGreedy(p);
    EXPECT_EQ(s.choice, (std::vector<int>{0, 1, 2}));
    EXPECT_NEAR(s.objective, -2.5, 1e-12);
}

TEST(MpSolver, HugeBudgetPicksTheBestSingleOfEveryGroup) {
    for (std::uint64_t seed = 601; seed <= 610; ++seed) {
        for (double budget : {1e30, kInf}) {
            MpProblem p = randomProblem(seed, 30, 5, false);
            p.budget = budget;
            const MpSolution s = solveExact(p);
            ASSERT_TRUE(s.optimal);
            for (std::size_t g = 0; g < p.single.size(); ++g)
                EXPECT_EQ(s.choice[g],
                          std::min_element(p.single[g].begin(), p.single[g].end()) - p.single[g].begin());
        }
    }
}

TEST(MpSolver, ZeroTimeLimitStillReturnsAFeasibleChoiceAndAValidBound) {
    const MpProblem p = randomProblem(701, 40, 3, true);
    MpSolveOptions opt;
    opt.timeLimitSeconds = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const MpSolution s = solveExact(p, opt);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
    EXPECT_TRUE(feasible(p, s.choice));
    EXPECT_FALSE(std::isnan(s.gap));
    EXPECT_GE(s.gap, 0.0);
    EXPECT_LE(s.bound, s.objective);
    EXPECT_GT(s.bound, -kInf); // the root bound is always there
}

TEST(MpSolver, StoppedSearchesReportAValidBound) {
    for (std::uint64_t seed = 801; seed <= 860; ++seed) {
        const MpProblem p = randomProblem(seed, 12, 3, seed % 3 != 0);
        const double best = bruteForce(p);
        for (long long limit : {0, 1, 2, 3, 5, 10, 30, 100}) {
            MpSolveOptions opt;
            opt.nodeLimit = limit;
            const MpSolution s = solveExactFrom(p, cheapestChoice(p), opt);
            EXPECT_TRUE(feasible(p, s.choice)) << seed;
            EXPECT_LE(s.bound, best + 1e-9) << seed << " limit " << limit;
            EXPECT_GE(s.objective, best - 1e-9) << seed;
            EXPECT_LE(s.nodes, limit) << seed;
            EXPECT_GE(s.gap, 0.0) << seed;
            EXPECT_EQ(s.optimal, s.gap == 0.0) << seed;
        }
    }
}

TEST(MpSolver, StartMustFitTheBudget) {
    const MpProblem p = randomProblem(850, 5, 3, true);
    std::vector<int> expensive;
    for (const auto& g : p.cost)
        expensive.push_back(static_cast<int>(std::max_element(g.begin(), g.end()) - g.begin()));
    ASSERT_GT(refCost(p, expensive), p.budget);
    EXPECT_THROW(solveExactFrom(p, expensive), Error);
    EXPECT_THROW(solveExactFrom(p, {0}), Error);
}

TEST(MpSolver, SameInputSameOutput) {
    const MpProblem p = randomProblem(901, 40, 3, true);
    MpSolveOptions opt;
    opt.nodeLimit = 20000;
    opt.timeLimitSeconds = 60;
    const MpSolution a = solveExact(p, opt), b = solveExact(p, opt);
    EXPECT_EQ(a.choice, b.choice);
    EXPECT_EQ(a.nodes, b.nodes);
    EXPECT_EQ(a.bound, b.bound);
    EXPECT_EQ(solveLocalSearch(p, opt).choice, solveLocalSearch(p, opt).choice);
    EXPECT_EQ(solveGreedy(p).choice, solveGreedy(p).choice);
}

TEST(MpSolver, CancelStopsTheSearch) {
    const MpProblem p = randomProblem(902, 40, 3, true);
    CancelToken token;
    token.cancel();
    JobContext job;
    job.cancel = &token;
    EXPECT_THROW(solveExact(p, {}, job), Cancelled);
    EXPECT_THROW(solveLocalSearch(p, {}, job), Cancelled);
}
