// SPDX-License-Identifier: MIT
// The exact solver of the one-hot quadratic program: depth-first branch and bound.
#include "analysis/mp_solver_internal.h"

#include <utility>

namespace qs::core::mp_detail {
namespace {

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

} // namespace

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


} // namespace qs::core::mp_detail
