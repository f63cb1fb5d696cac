// SPDX-License-Identifier: MIT
// sweep --shard: the N slices of a grid are disjoint, cover it, and do not depend on its order.
#include "experiment/builtins.h"
#include "experiment/predict_run.h"
#include "experiment/sweep_shard.h"
#include "base/error.h"

#include <gtest/gtest.h>
#include <map>
#include <set>

using namespace qs::core;

namespace {

const Registries& registries() {
    static const Registries r = [] {
        Registries x;
        registerBuiltins(x);
        return x;
    }();
    return r;
}

std::vector<SweepPoint> grid(const char* json) { return expandGrid(nlohmann::json::parse(json), registries()); }

std::multiset<std::string> keysOf(const std::vector<SweepPoint>& points) {
    std::multiset<std::string> keys;
    for (const auto& p : points) keys.insert(p.recipe ? sweepPointKey(p) : "invalid " + p.values.dump());
    return keys;
}

} // namespace

TEST(SweepShard, ParsesIOfNAndRefusesTheRest) {
    const SweepShard s = parseSweepShard("2/4");
    EXPECT_EQ(s.index, 2);
    EXPECT_EQ(s.count, 4);
    EXPECT_EQ(s.text(), "2/4");
    for (const char* bad : {"0/4", "5/4", "4", "a/b", "1/0", "1/", "/3", "2/4x", "-1/4"}) {
        try {
            parseSweepShard(bad);
            ADD_FAILURE() << bad << " accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
        }
    }
}

TEST(SweepShard, ShardsAreDisjointAndTheirUnionIsTheGrid) {
    // 12 valid points and 4 invalid ones (mxfp4 has a fixed block: no group granularity).
    const auto points = grid(R"({"format": ["int3", "int4", "int8", "mxfp4"], "granularity": "group",
                                 "group": [32, 128], "asym": [true, false]})");
    ASSERT_EQ(points.size(), 16u);
    const auto all = keysOf(points);
    for (int n = 1; n <= 7; ++n) {
        std::multiset<std::string> united;
        std::size_t smallest = points.size(), largest = 0;
        for (int i = 1; i <= n; ++i) {
            const auto shard = selectSweepShard(points, {i, n});
            std::size_t valid = 0;
            for (const auto& p : shard) {
                valid += p.recipe ? 1 : 0;
                if (!p.recipe) {
                    EXPECT_EQ(i, 1) << "invalid points are reported by shard 1 only";
                }
            }
            smallest = std::min(smallest, valid);
            largest = std::max(largest, valid);
            const auto keys = keysOf(shard);
            united.insert(keys.begin(), keys.end());
        }
        EXPECT_EQ(united, all) << n << " shards: each point exactly once";
        EXPECT_LE(largest - smallest, 1u) << n << " shards: balanced";
    }
}

TEST(SweepShard, TheSliceDependsOnTheRecipesNotOnTheGridOrder) {
    const auto a = grid(R"({"format": ["int3", "int4", "int8"], "group": [32, 128], "asym": [true, false]})");
    const auto b = grid(R"({"format": ["int8", "int3", "int4"], "group": [128, 32], "asym": [false, true]})");
    for (int i = 1; i <= 3; ++i) EXPECT_EQ(keysOf(selectSweepShard(a, {i, 3})), keysOf(selectSweepShard(b, {i, 3})));
}

TEST(SweepShard, DuplicatePointsGoToOneShard) {
    const auto points = grid(R"({"format": ["int4", "int3", "int4"], "group": [32]})");
    for (int i = 1; i <= 2; ++i) {
        std::map<std::string, int> n;
        for (const auto& p : selectSweepShard(points, {i, 2})) ++n[p.recipe->canonical()];
        for (const auto& [recipe, count] : n)
            if (recipe.find("int4") != std::string::npos) {
                EXPECT_EQ(count, 2) << "shard " << i;
            }
    }
}

TEST(SweepShard, CalibrationFilesSplitKeysOnlyForRecipesThatCalibrate) {
    const auto points = grid(R"({"method": ["rtn", "gptq"], "format": "int4", "group": 32, "calib": ["a.txt", "b.txt"]})");
    std::set<std::string> keys;
    for (const auto& p : points) keys.insert(sweepPointKey(p));
    EXPECT_EQ(keys.size(), 3u); // rtn once, gptq per calibration file
}

TEST(SweepGrid, CalibrationWindowsOutOfRangeMakeThePointInvalidNotUndefined) {
    // A fuzzer's input: 5e105 once reached a double-to-integer conversion (undefined behaviour).
    for (const char* json : {R"({"method": "gptq", "format": "int4", "calib-windows": 5e105})",
                             R"({"method": "gptq", "format": "int4", "calib-windows": -3})",
                             R"({"method": "gptq", "format": "int4", "calib-windows": 2.5})",
                             R"({"method": "gptq", "format": "int4", "calib-windows": 18446744073709551615})"}) {
        const std::vector<SweepPoint> points = grid(json);
        ASSERT_EQ(points.size(), 1u) << json;
        EXPECT_FALSE(points[0].recipe) << json;
        EXPECT_NE(points[0].invalidReason.find("calib-windows"), std::string::npos) << json;
    }
    EXPECT_TRUE(grid(R"({"method": "gptq", "format": "int4", "calib-windows": 16})")[0].recipe);
}

// Run order by prediction: the predicted points sorted by their figure (ties in grid order), the
// unpredicted after them in grid order, invalid points kept; the grid order untouched.
TEST(SweepOrder, PredictedPointsFirstByTheirFigureTheRestInGridOrder) {
    const auto points = grid(R"({"format": ["int2", "int3", "int4", "int8", "nf4"], "asym": [true]})");
    ASSERT_EQ(points.size(), 5u);
    ASSERT_FALSE(points[4].recipe.has_value()); // nf4 has no zero point: invalid, kept
    const auto recipeOf = [&](int i) { return points[std::size_t(i)].recipe->toJson(); };
    // int4 best predicted, then int8 and int3 tied (grid order: int3 first); int2 unpredicted.
    const nlohmann::json predictions = nlohmann::json::array(
        {{{"recipe", recipeOf(3)}, {"predicted", 0.02}, {"uncertainty", 0.5}},
         {{"recipe", recipeOf(2)}, {"predicted", 0.01}, {"uncertainty", 0.1}},
         {{"recipe", recipeOf(1)}, {"predicted", 0.02}, {"uncertainty", 0.9}}});
    const auto formatsOf = [](const std::vector<SweepPoint>& ps) {
        std::vector<std::string> out;
        for (const auto& p : ps) out.push_back(p.values["format"].get<std::string>());
        return out;
    };
    EXPECT_EQ(formatsOf(orderSweepPoints(points, predictions, SweepOrder::Promising, registries())),
              (std::vector<std::string>{"int4", "int3", "int8", "int2", "nf4"}));
    EXPECT_EQ(formatsOf(orderSweepPoints(points, predictions, SweepOrder::Uncertain, registries())),
              (std::vector<std::string>{"int3", "int8", "int4", "int2", "nf4"}));
    EXPECT_EQ(formatsOf(orderSweepPoints(points, predictions, SweepOrder::Grid, registries())),
              (std::vector<std::string>{"int2", "int3", "int4", "int8", "nf4"}));
    EXPECT_EQ(sweepOrderFromName("uncertain", "t"), SweepOrder::Uncertain);
    EXPECT_THROW(sweepOrderFromName("best", "t"), Error);
    EXPECT_THROW(orderSweepPoints(points, nlohmann::json::array({{{"predicted", 1.0}}}), SweepOrder::Promising, registries()), Error);
    EXPECT_THROW(orderSweepPoints(points, nlohmann::json::array({{{"recipe", recipeOf(0)}}}), SweepOrder::Promising, registries()), Error);
}
