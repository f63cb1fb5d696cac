// SPDX-License-Identifier: MIT
#include "analysis/mp_solver.h"

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

constexpr double kInf = std::numeric_limits<double>::infinity();

/// The budget as every solver tests it: the relative slack lets sums taken in another order still fit.
double capacityOf(double budget) {
    return budget + 1e-9 * std::abs(budget);
}

/// A move must improve by more than rounding, or descents could cycle on noise.
double slack(double v) {
    return 1e-12 * std::max(1.0, std::abs(v));
}

std::string num(double v) {
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

Flat flatten(const MpProblem& p) {
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
std::vector<int> cheapestPicks(const Flat& f) {
    std::vector<int> picks(f.groups);
    for (int g = 0; g < f.groups; ++g) {
        int best = f.begin(g);
        for (int i = best + 1; i < f.end(g); ++i)
            if (f.w[i] < f.w[best] || (f.w[i] == f.w[best] && f.s[i] < f.s[best])) best = i;
        picks[g] = best;
    }
    return picks;
}

std::vector<int> choiceOf(const Flat& f, const std::vector<int>& picks) {
    std::vector<int> c(picks.size());
    for (int g = 0; g < f.groups; ++g)
        c[g] = picks[g] - f.begin(g);
    return c;
}

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

MpSolution makeSolution(const MpProblem& p, std::vector<int> choice, const char* solver, long long nodes,
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

/// Depth-first branch and bound over the groups in a fixed order (largest spread of root coefficient
/// first); at depth d the groups order[0..d) are fixed. Bound = the fixed picks' objective + the LP
/// relaxation of the multiple-choice knapsack over the free groups, option i's coefficient being
///   single(i) + field(i) (pair terms with the fixed picks) + sum over free h of share(i, h),
/// where the shares split every free pair term into two one-sided parts it is never below (see
/// prepareShares). That needs no convexity, so the search is exact for indefinite matrices. Children
/// are bounded before they are entered, so the open nodes' bounds are known when a limit stops it.
class BranchAndBound {
public:
    BranchAndBound(const Flat& f, const MpSolveOptions& opt, const Clock& clock, const JobContext& job)
        : m_f(f), m_opt(opt), m_clock(clock), m_job(job), m_coef(f.n) {
        if (!f.additive()) prepareShares();
        orderGroups();
    }

    /// Runs from the incumbent (a feasible choice as flat picks, with its objective).
    void run(const std::vector<int>& picks, double value) {
        m_best = picks, m_bestValue = value, m_pick.assign(m_f.groups, -1);
        for (int i = 0; i < m_f.n; ++i)
            m_coef[i] = m_f.s[i] + freeShare(0, i);
        const double root = lpBound(0, m_f.capacity);
        if (root < m_bestValue - slack(m_bestValue)) visit(0, root);
    }
    bool complete() const { return !m_stopped; }
    double openBound() const { return m_open; }
    long long nodes() const { return m_nodes; }
    const std::vector<int>& best() const { return m_best; }

private:
    struct Step {
        double slope, dw, dc;
        int depth, seg;
    };

    /// share(i, h) for option i of group g != h: for g < h, i's row minimum over h's options; for g > h,
    /// the smallest pair(j, i) - share(j, g) over h's options j (the column minimum of what the row
    /// minima left). So pair(j, i) >= share(j, g) + share(i, h) for every j of h and i of g.
    void prepareShares() {
        const int n = m_f.n, groups = m_f.groups;
        m_share = Eigen::MatrixXd::Zero(n, groups);
        for (int i = 0; i < n; ++i)
            for (int h = m_f.groupOf[i] + 1; h < groups; ++h)
                m_share(i, h) = m_f.pair.col(i).segment(m_f.begin(h), m_f.end(h) - m_f.begin(h)).minCoeff();
        for (int i = 0; i < n; ++i)
            for (int h = 0; h < m_f.groupOf[i]; ++h) {
                double least = kInf;
                for (int j = m_f.begin(h); j < m_f.end(h); ++j)
                    least = std::min(least, m_f.pair(j, i) - m_share(j, m_f.groupOf[i]));
                m_share(i, h) = least;
            }
        m_field = Eigen::MatrixXd::Zero(n, groups + 1);
        m_freeShare = Eigen::MatrixXd::Zero(n, groups + 1);
        m_freeShare.col(0) = m_share.rowwise().sum(); // share(i, group(i)) stays 0
    }
    double freeShare(int depth, int i) const { return m_f.additive() ? 0.0 : m_freeShare(i, depth); }
    double field(int depth, int i) const { return m_f.additive() ? 0.0 : m_field(i, depth); }

    void orderGroups() {
        std::vector<double> spread(m_f.groups);
        for (int g = 0; g < m_f.groups; ++g) {
            double lo = kInf, hi = -kInf;
            for (int i = m_f.begin(g); i < m_f.end(g); ++i) {
                const double c = m_f.s[i] + freeShare(0, i);
                lo = std::min(lo, c), hi = std::max(hi, c);
            }
            spread[g] = hi - lo;
            m_order.push_back(g);
            m_byCost.emplace_back();
            for (int i = m_f.begin(g); i < m_f.end(g); ++i)
                m_byCost.back().push_back(i);
            std::stable_sort(m_byCost.back().begin(), m_byCost.back().end(),
                             [&](int a, int b) { return m_f.w[a] < m_f.w[b]; });
        }
        std::stable_sort(m_order.begin(), m_order.end(), [&](int a, int b) { return spread[a] > spread[b]; });
        m_restMinCost.assign(m_f.groups + 1, 0.0);
        for (int d = m_f.groups - 1; d >= 0; --d)
            m_restMinCost[d] = m_restMinCost[d + 1] + m_f.w[m_byCost[m_order[d]].front()];
    }

    /// Lower convex hull of group g's (cost, coefficient) points, cheapest first; points that cost no
    /// less than another yet have no lower coefficient are dropped on the way.
    void hull(int g, std::vector<int>& out) const {
        out.clear();
        const auto keepsMiddle = [&](int a, int b, int c) {
            return (m_coef[b] - m_coef[a]) * (m_f.w[c] - m_f.w[b]) <
                   (m_coef[c] - m_coef[b]) * (m_f.w[b] - m_f.w[a]);
        };
        for (int i : m_byCost[g]) {
            if (!out.empty() && m_coef[i] >= m_coef[out.back()]) continue;
            while (!out.empty() && m_f.w[i] == m_f.w[out.back()])
                out.pop_back();
            while (out.size() >= 2 && !keepsMiddle(out[out.size() - 2], out.back(), i))
                out.pop_back();
            out.push_back(i);
        }
    }

    /// LP relaxation of the multiple-choice knapsack over the groups order[depth..] with the current
    /// m_coef: every group starts at its hull's cheapest point, then hull segments are bought in order
    /// of coefficient drop per unit cost until the capacity runs out (the last one fractionally).
    double lpBound(int depth, double capacity) {
        double value = 0, used = 0;
        m_steps.clear();
        for (int d = depth; d < m_f.groups; ++d) {
            hull(m_order[d], m_hull);
            value += m_coef[m_hull[0]], used += m_f.w[m_hull[0]];
            for (std::size_t k = 1; k < m_hull.size(); ++k) {
                const double dw = m_f.w[m_hull[k]] - m_f.w[m_hull[k - 1]];
                const double dc = m_coef[m_hull[k]] - m_coef[m_hull[k - 1]];
                m_steps.push_back({dc / dw, dw, dc, d, static_cast<int>(k)});
            }
        }
        if (used > capacity) return kInf;
        std::sort(m_steps.begin(), m_steps.end(), [](const Step& a, const Step& b) {
            return std::tie(a.slope, a.depth, a.seg) < std::tie(b.slope, b.depth, b.seg);
        });
        double left = capacity - used;
        for (const Step& st : m_steps) {
            if (st.dw > left) return value + st.dc * (left / st.dw);
            value += st.dc, left -= st.dw;
        }
        return value;
    }

    /// Bound of fixing group order[depth] to option b (+inf when even the cheapest completion busts).
    double childBound(int depth, int b) {
        const double cost = m_fixedCost + m_f.w[b];
        if (cost + m_restMinCost[depth + 1] > m_f.capacity) return kInf;
        const int k = m_order[depth];
        for (int d = depth + 1; d < m_f.groups; ++d)
            for (int i = m_f.begin(m_order[d]); i < m_f.end(m_order[d]); ++i)
                m_coef[i] = m_f.s[i] + field(depth, i) +
                            (m_f.additive() ? 0.0 : m_f.pair(i, b) + freeShare(depth, i) - m_share(i, k));
        return m_fixedValue + m_f.s[b] + field(depth, b) + lpBound(depth + 1, m_f.capacity - cost);
    }

    /// The clock is read (and cancel checked) after about kWork coefficient updates, so every few
    /// thousand nodes on small problems and at every node on huge ones: never long between looks.
    bool limitReached() {
        constexpr long long kWork = 100'000;
        if (m_nodes >= m_opt.nodeLimit) return true;
        if (m_work > 0 && (m_work -= m_f.n + 1) > 0) return false;
        m_work = kWork;
        m_job.checkCancel();
        return m_clock.expired();
    }

    void visit(int depth, double nodeBound) {
        if (limitReached()) {
            m_stopped = true, m_open = std::min(m_open, nodeBound);
            return;
        }
        ++m_nodes;
        const int k = m_order[depth];
        std::vector<std::pair<double, int>> children;
        for (int b = m_f.begin(k); b < m_f.end(k); ++b)
            children.emplace_back(childBound(depth, b), b);
        std::sort(children.begin(), children.end());
        for (const auto& [bound, b] : children) {
            if (bound >= m_bestValue - slack(m_bestValue)) break;
            if (m_stopped) {
                m_open = std::min(m_open, bound);
                continue;
            }
            m_pick[k] = b;
            if (depth + 1 == m_f.groups) {
                leaf(bound);
                continue;
            }
            const double value = m_fixedValue, cost = m_fixedCost;
            enter(depth, b);
            visit(depth + 1, bound);
            m_fixedValue = value, m_fixedCost = cost;
        }
        m_pick[k] = -1;
    }

    void enter(int depth, int b) {
        m_fixedValue += m_f.s[b] + field(depth, b), m_fixedCost += m_f.w[b];
        if (m_f.additive()) return;
        m_field.col(depth + 1) = m_field.col(depth) + m_f.pair.col(b);
        m_freeShare.col(depth + 1) = m_freeShare.col(depth) - m_share.col(m_order[depth]);
    }

    /// A full choice whose objective is `value`; kept when better and within budget summed as mpCost does.
    void leaf(double value) {
        double cost = 0;
        for (int p : m_pick)
            cost += m_f.w[p];
        if (cost <= m_f.capacity && value < m_bestValue) m_best = m_pick, m_bestValue = value;
    }

    const Flat& m_f;
    const MpSolveOptions& m_opt;
    const Clock& m_clock;
    const JobContext& m_job;
    std::vector<int> m_order, m_pick, m_best, m_hull;
    std::vector<std::vector<int>> m_byCost;
    std::vector<double> m_restMinCost, m_coef;
    std::vector<Step> m_steps;
    Eigen::MatrixXd m_share, m_field, m_freeShare; ///< m_field, m_freeShare: one column per depth
    double m_fixedValue = 0, m_fixedCost = 0, m_bestValue = kInf, m_open = kInf;
    long long m_nodes = 0, m_work = 0;
    bool m_stopped = false;
};

MpSolution branchAndBound(const MpProblem& p, const Flat& f, std::vector<int> start,
                          const MpSolveOptions& opt, const Clock& clock, const JobContext& job) {
    const double value = mpObjective(p, start);
    for (int g = 0; g < f.groups; ++g)
        start[g] += f.begin(g);
    BranchAndBound bnb(f, opt, clock, job);
    bnb.run(start, value);
    return makeSolution(p, choiceOf(f, bnb.best()), "exact", bnb.nodes(), clock, bnb.openBound(),
                        bnb.complete());
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
