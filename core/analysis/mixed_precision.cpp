// SPDX-License-Identifier: MIT
#include "analysis/mixed_precision.h"

#include "base/error.h"
#include "quant/layer_rules.h"
#include "quant/recipe.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

namespace qs::core {
namespace {

const std::vector<std::pair<MpMethod, std::string>> kMethods{{MpMethod::Clado, "clado"},
                                                             {MpMethod::Ilp, "ilp"},
                                                             {MpMethod::Additive, "additive"},
                                                             {MpMethod::Gradient, "gradient"},
                                                             {MpMethod::Greedy, "greedy"},
                                                             {MpMethod::Uniform, "uniform"}};

std::int64_t totalParams(const SensitivityResult& r) {
    std::int64_t n = 0;
    for (const auto& g : r.groups) n += g.params;
    return n;
}

GroupCosts costs(const SensitivityResult& r, BudgetUnit unit, const GroupCosts* custom) {
    if (unit == BudgetUnit::Cost) {
        if (!custom) throw Error("a cost budget needs the groups' costs (a cost model)");
        if (custom->size() != r.groups.size() ||
            std::any_of(custom->begin(), custom->end(), [&](const auto& g) { return g.size() != r.candidates.size(); }))
            throw Error("the custom costs do not match the sensitivity result's groups and candidates");
        return *custom;
    }
    GroupCosts c = r.bitsPerWeight;
    for (std::size_t g = 0; g < c.size(); ++g)
        for (double& v : c[g]) v *= double(r.groups[g].params);
    return c;
}

double fromBits(const SensitivityResult& r, double bits, BudgetUnit unit) {
    if (unit == BudgetUnit::Cost) return bits;
    return unit == BudgetUnit::Bytes ? bits / 8.0 : bits / double(totalParams(r));
}

std::string amount(double v, BudgetUnit unit) {
    std::ostringstream os;
    os.precision(unit == BudgetUnit::BitsPerWeight ? 4 : 10);
    os << v << ' ' << budgetUnitName(unit);
    return os.str();
}

// ModelOpt's monotonicity patch: with candidates ordered from most to least compressed, a candidate
// scores at most what the next more compressed one scored (its raw score).
std::vector<std::vector<double>> monotoneScores(const SensitivityResult& r, const std::vector<std::vector<double>>& raw) {
    std::vector<std::vector<double>> out = raw;
    for (std::size_t g = 0; g < raw.size(); ++g) {
        std::vector<std::size_t> order(raw[g].size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return r.bitsPerWeight[g][a] < r.bitsPerWeight[g][b]; });
        for (std::size_t k = 1; k < order.size(); ++k)
            out[g][order[k]] = std::min(raw[g][order[k]], raw[g][order[k - 1]]);
    }
    return out;
}

MpSolution bestUniform(const MpProblem& p) {
    MpSolution best;
    best.solver = "uniform";
    best.bound = -std::numeric_limits<double>::infinity();
    best.gap = std::numeric_limits<double>::infinity();
    bool found = false;
    const std::size_t C = p.cost.empty() ? 0 : p.cost.front().size();
    for (std::size_t c = 0; c < C; ++c) {
        const std::vector<int> choice(p.cost.size(), int(c));
        const double cost = mpCost(p, choice), objective = mpObjective(p, choice);
        if (cost > p.budget * (1 + 1e-9)) continue;
        if (!found || objective < best.objective || (objective == best.objective && cost < best.cost)) {
            best.choice = choice;
            best.objective = objective;
            best.cost = cost;
            found = true;
        }
    }
    if (!found) throw Error("no single candidate fits the budget for every group");
    return best;
}

} // namespace

std::string mpMethodName(MpMethod m) {
    for (const auto& [method, name] : kMethods)
        if (method == m) return name;
    return "?";
}

std::vector<MpMethod> mpMethodsFromList(const std::string& list, const std::string& owner) {
    std::vector<MpMethod> out;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item == "all") {
            for (const auto& [m, name] : kMethods) out.push_back(m);
            continue;
        }
        const auto it = std::find_if(kMethods.begin(), kMethods.end(), [&](const auto& e) { return e.second == item; });
        if (it == kMethods.end())
            throw Error(owner + ": unknown solver '" + item + "' (known: clado, ilp, additive, gradient, greedy, uniform, all)");
        out.push_back(it->first);
    }
    std::vector<MpMethod> unique;
    for (MpMethod m : out)
        if (std::find(unique.begin(), unique.end(), m) == unique.end()) unique.push_back(m);
    if (unique.empty()) throw Error(owner + ": no solver given");
    return unique;
}

std::string mpObjectiveName(MpObjective o) { return o == MpObjective::Kld ? "kld" : "loss"; }

MpObjective mpObjectiveFromName(const std::string& name, const std::string& owner) {
    if (name == "kld") return MpObjective::Kld;
    if (name == "loss") return MpObjective::Loss;
    throw Error(owner + ": unknown objective '" + name + "' (known: kld, loss)");
}

std::string budgetUnitName(BudgetUnit u) {
    return u == BudgetUnit::Bytes ? "bytes" : u == BudgetUnit::Cost ? "cost" : "bpw";
}

BudgetUnit budgetUnitFromName(const std::string& name, const std::string& owner) {
    if (name == "bpw") return BudgetUnit::BitsPerWeight;
    if (name == "bytes") return BudgetUnit::Bytes;
    if (name == "cost") return BudgetUnit::Cost;
    throw Error(owner + ": unknown budget unit '" + name + "' (known: bpw, bytes, cost)");
}

std::pair<double, double> planRange(const SensitivityResult& r, BudgetUnit unit, const GroupCosts* custom) {
    double smallest = 0, largest = 0;
    for (const auto& c : costs(r, unit, custom)) {
        smallest += *std::min_element(c.begin(), c.end());
        largest += *std::max_element(c.begin(), c.end());
    }
    return {fromBits(r, smallest, unit), fromBits(r, largest, unit)};
}

double budgetBits(const SensitivityResult& r, double budget, BudgetUnit unit) {
    if (unit == BudgetUnit::Cost) return budget;
    return unit == BudgetUnit::Bytes ? budget * 8.0 : budget * double(totalParams(r));
}

nlohmann::json planRecipe(const SensitivityResult& r, const std::vector<CandidateFormat>& candidates,
                          const std::vector<int>& choice, const MethodRegistries& registries) {
    std::vector<double> covered(candidates.size(), 0.0);
    for (std::size_t g = 0; g < choice.size(); ++g) covered[std::size_t(choice[g])] += double(r.groups[g].params);
    int byDefault = -1;
    for (std::size_t c = 0; c < candidates.size(); ++c)
        if (!candidates[c].keep && (byDefault < 0 || covered[c] > covered[std::size_t(byDefault)])) byDefault = int(c);
    if (byDefault < 0) return nlohmann::json::object(); // only "keep": the float model
    nlohmann::json recipe = candidates[std::size_t(byDefault)].ruleKeys();
    nlohmann::json layers = nlohmann::json::array();
    for (std::size_t g = 0; g < choice.size(); ++g) {
        if (choice[g] == byDefault) continue;
        for (const std::string& w : r.groups[g].weights) {
            nlohmann::json rule = candidates[std::size_t(choice[g])].ruleKeys();
            rule["match"] = ruleName(w);
            layers.push_back(std::move(rule));
        }
    }
    if (!layers.empty()) recipe["layers"] = std::move(layers);
    return recipeFromJson(recipe, registries, "mixed-precision plan").toJson();
}

MpPlan planMixedPrecision(const SensitivityResult& r, const std::vector<CandidateFormat>& candidates,
                          const MethodRegistries& registries, MpMethod method, double budget, BudgetUnit unit,
                          MpObjective objective, const MpSolveOptions& options, const JobContext& job,
                          const GroupCosts* custom) {
    if (candidates.size() != r.candidates.size())
        throw Error("mixed precision: the candidates do not match the sensitivity result's");
    MpProblem p;
    p.cost = costs(r, unit, custom);
    p.budget = budgetBits(r, budget, unit);
    const double smallest = planRange(r, unit, custom).first;
    if (budgetBits(r, smallest, unit) > p.budget * (1 + 1e-9))
        throw Error("budget " + amount(budget, unit) + " is below the smallest plan, " + amount(smallest, unit));
    switch (method) {
    case MpMethod::Clado:
        if (r.interaction.size() == 0)
            throw Error("clado needs the pairwise terms: run the sensitivity analysis with pairs (--pairs)");
        p.single = objective == MpObjective::Kld ? r.kld : r.deltaLoss;
        p.interaction = objective == MpObjective::Kld ? r.interactionKld : r.interaction;
        break;
    case MpMethod::Ilp:
        if (r.hawqScore.empty())
            throw Error("ilp needs the HAWQ scores: run the sensitivity analysis with --hawq-probes > 0");
        p.single = r.hawqScore;
        break;
    case MpMethod::Additive: p.single = monotoneScores(r, r.kld); break;
    case MpMethod::Gradient:
        if (r.gradientScore.empty())
            throw Error("gradient needs the gradient scores: run the sensitivity analysis without --no-gradient-score");
        p.single = monotoneScores(r, r.gradientScore);
        break;
    case MpMethod::Greedy:
    case MpMethod::Uniform: p.single = objective == MpObjective::Kld ? r.kld : r.deltaLoss; break;
    }
    MpPlan plan;
    plan.method = mpMethodName(method);
    plan.budget = budget;
    plan.unit = unit;
    if (method == MpMethod::Greedy) {
        plan.solution = solveGreedy(p, job);
    } else if (method == MpMethod::Uniform) {
        plan.solution = bestUniform(p);
    } else {
        plan.solution = solveExact(p, options, job);
        if (!plan.solution.optimal) { // a time- or node-capped search: a heuristic may do better
            const MpSolution heuristic = solveLocalSearch(p, options, job);
            if (heuristic.objective < plan.solution.objective) {
                const double bound = plan.solution.bound;
                plan.solution = heuristic;
                plan.solution.bound = bound;
                plan.solution.gap = (heuristic.objective - bound) / std::max(1e-12, std::abs(heuristic.objective));
            }
        }
    }
    plan.choice = plan.solution.choice;
    MpProblem measured = p; // CLADO's model of the plan, whichever method chose it
    measured.single = r.deltaLoss;
    measured.interaction = r.interaction;
    plan.predictedDeltaLoss = mpObjective(measured, plan.choice);
    measured.interaction = Eigen::MatrixXd();
    plan.additiveDeltaLoss = mpObjective(measured, plan.choice);
    measured.single = r.kld;
    measured.interaction = r.interactionKld;
    plan.predictedKld = mpObjective(measured, plan.choice);
    plan.cost = fromBits(r, mpCost(p, plan.choice), unit);
    MpProblem bits = p;
    bits.cost = costs(r, BudgetUnit::BitsPerWeight, nullptr);
    plan.bitsPerWeight = mpCost(bits, plan.choice) / double(totalParams(r));
    plan.recipe = planRecipe(r, candidates, plan.choice, registries);
    return plan;
}

nlohmann::json MpPlan::toJson(const SensitivityResult& r) const {
    nlohmann::json choices = nlohmann::json::object();
    for (std::size_t g = 0; g < choice.size(); ++g) choices[r.groups[g].name] = r.candidates[std::size_t(choice[g])];
    const auto finite = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
    return {{"method", method},
            {"budget", budget},
            {"unit", budgetUnitName(unit)},
            {"bits_per_weight", bitsPerWeight},
            {"cost", cost},
            {"predicted_delta_loss", predictedDeltaLoss},
            {"additive_delta_loss", additiveDeltaLoss},
            {"predicted_kld", predictedKld},
            {"objective", solution.objective},
            {"bound", finite(solution.bound)},
            {"gap", finite(solution.gap)},
            {"optimal", solution.optimal},
            {"solve_seconds", solution.seconds},
            {"nodes", solution.nodes},
            {"choices", choices},
            {"recipe", recipe}};
}

} // namespace qs::core
