// SPDX-License-Identifier: MIT
// The additive ModelOpt-style plans on a hand-built sensitivity table: each is the brute-force optimum
// of its own score after auto_quantize's monotonicity rule (written out here by hand), within the budget.
#include "analysis/candidate_formats.h"
#include "analysis/mixed_precision.h"
#include "base/error.h"
#include "builtin_registries.h"

#include <gtest/gtest.h>
#include <limits>

using namespace qs::core;
using qs::test::builtinRegistries;

namespace {

// Three groups of 100, 200 and 300 weights; candidates int3 g32 asym (3.625 bpw), int4 g32 asym
// (4.625) and int8 per channel (8.0 + a little).
struct Table {
    std::vector<CandidateFormat> candidates =
        parseCandidateFormats("int3:group:32:asym,int4:group:32:asym,int8:channel:sym", builtinRegistries(), "test");
    SensitivityResult r;

    Table() {
        r.candidates = {"int3:group:32:asym", "int4:group:32:asym", "int8:channel:sym"};
        const std::vector<std::int64_t> params{100, 200, 300};
        for (int g = 0; g < 3; ++g) {
            const std::string w = "model.layers." + std::to_string(g) + ".mlp.down_proj.weight";
            r.groups.push_back({w, g, {w}, params[std::size_t(g)]});
            r.bitsPerWeight.push_back({3.625, 4.625, 8.25});
            r.deltaLoss.push_back({0.3, 0.2, 0.1});
        }
        // Forward KL: int4 worth most in group 0, int8 in group 2.
        r.kld = {{0.50, 0.05, 0.04}, {0.20, 0.15, 0.01}, {0.30, 0.20, 0.02}};
        // Output-gradient scores, with a non-monotone raw value (group 1's int4 above its int3).
        r.gradientScore = {{0.10, 0.09, 0.01}, {0.40, 0.60, 0.05}, {0.90, 0.10, 0.08}};
    }
};

double planBits(const Table& t, const std::vector<int>& x) {
    double bits = 0;
    for (std::size_t g = 0; g < x.size(); ++g) bits += t.r.bitsPerWeight[g][std::size_t(x[g])] * double(t.r.groups[g].params);
    return bits;
}

double planScore(const std::vector<std::vector<double>>& score, const std::vector<int>& x) {
    double s = 0;
    for (std::size_t g = 0; g < x.size(); ++g) s += score[g][std::size_t(x[g])];
    return s;
}

// The least Σ score[g][c] over all 27 choices whose bits fit `bpw`.
double bruteForceMinimum(const Table& t, const std::vector<std::vector<double>>& score, double bpw) {
    double best = std::numeric_limits<double>::infinity();
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b)
            for (int c = 0; c < 3; ++c)
                if (planBits(t, {a, b, c}) <= bpw * 600 + 1e-9) best = std::min(best, planScore(score, {a, b, c}));
    return best;
}

} // namespace

TEST(MixedPrecisionPlan, AdditiveAndGradientAreTheBruteForceOptimaOfTheirMonotoneScores) {
    const Table t;
    // auto_quantize's rule by hand: in order of bits, a candidate scores at most the raw score of the
    // next more compressed one.
    const std::vector<std::vector<double>> kld{{0.50, 0.05, 0.04}, {0.20, 0.15, 0.01}, {0.30, 0.20, 0.02}};
    const std::vector<std::vector<double>> gradient{{0.10, 0.09, 0.01}, {0.40, 0.40, 0.05}, {0.90, 0.10, 0.08}};
    for (double bpw : {3.7, 4.2, 4.7, 5.5, 6.5, 8.3}) {
        const MpPlan additive = planMixedPrecision(t.r, t.candidates, builtinRegistries(), MpMethod::Additive, bpw,
                                                   BudgetUnit::BitsPerWeight);
        const MpPlan byGradient = planMixedPrecision(t.r, t.candidates, builtinRegistries(), MpMethod::Gradient, bpw,
                                                     BudgetUnit::BitsPerWeight);
        for (const MpPlan* plan : {&additive, &byGradient}) {
            EXPECT_LE(planBits(t, plan->choice), bpw * 600 + 1e-9) << bpw;
            EXPECT_TRUE(plan->solution.optimal);
        }
        EXPECT_NEAR(planScore(kld, additive.choice), bruteForceMinimum(t, kld, bpw), 1e-12) << bpw;
        EXPECT_NEAR(planScore(gradient, byGradient.choice), bruteForceMinimum(t, gradient, bpw), 1e-12) << bpw;
        EXPECT_EQ(byGradient.method, "gradient");
    }
    // At 4.2 bpw (2520 bits, 345 above all-int3) the optima are unique and differ: KL buys int4 for
    // groups 0 and 1; the gradient score buys int4 for group 2 (its raw score drops 0.9 -> 0.1).
    const auto at = [&](MpMethod m) {
        return planMixedPrecision(t.r, t.candidates, builtinRegistries(), m, 4.2, BudgetUnit::BitsPerWeight).choice;
    };
    EXPECT_EQ(at(MpMethod::Additive), (std::vector<int>{1, 1, 0}));
    EXPECT_EQ(at(MpMethod::Gradient), (std::vector<int>{0, 0, 1}));
}

TEST(MixedPrecisionPlan, GradientWithoutGradientScoresAndBudgetsBelowTheSmallestPlanAreErrors) {
    Table t;
    EXPECT_THROW(planMixedPrecision(t.r, t.candidates, builtinRegistries(), MpMethod::Gradient, 3.5,
                                    BudgetUnit::BitsPerWeight),
                 Error); // below 3.625
    t.r.gradientScore.clear();
    try {
        planMixedPrecision(t.r, t.candidates, builtinRegistries(), MpMethod::Gradient, 5.0, BudgetUnit::BitsPerWeight);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("gradient scores"), std::string::npos) << e.what();
    }
    EXPECT_EQ(mpMethodsFromList("gradient", "t"), std::vector<MpMethod>{MpMethod::Gradient});
    EXPECT_EQ(mpMethodName(MpMethod::Gradient), "gradient");
}
