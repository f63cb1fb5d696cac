// SPDX-License-Identifier: MIT
#include "builtin_registries.h"
#include "quant/recipe.h"
#include "fixture_paths.h"
#include "base/error.h"

#include <gtest/gtest.h>

using namespace qs::core;

namespace {
const Registries& regs() { return qs::test::builtinRegistries(); }
} // namespace

TEST(Recipe, JsonRoundTripIsCanonical) {
    const auto r = recipeFromJson(
        {{"method", "rtn"}, {"format", "int4"}, {"group", 32}, {"sym", false}, {"kv_cache", {{"format", "int8"}, {"granularity", "token"}}}},
        regs());
    EXPECT_TRUE(r.quantizeWeights);
    EXPECT_EQ(r.job.spec.groupSize, 32);
    EXPECT_FALSE(r.job.spec.symmetric);
    ASSERT_TRUE(r.kvCache);
    const auto back = recipeFromJson(r.toJson(), regs());
    EXPECT_EQ(back.canonical(), r.canonical());
    const auto file = qs::test::outputDir("recipe") / "r.json";
    saveRecipeFile(file, r);
    EXPECT_EQ(loadRecipeFile(file, regs()).canonical(), r.canonical());
}

TEST(Recipe, IrrelevantFieldsDoNotMakeADifferentRecipe) {
    const auto a = recipeFromJson({{"format", "int8"}, {"granularity", "channel"}, {"group", 32}}, regs());
    const auto b = recipeFromJson({{"format", "int8"}, {"granularity", "channel"}, {"group", 64}}, regs());
    EXPECT_EQ(a.canonical(), b.canonical());
    EXPECT_TRUE(recipeFromJson(nlohmann::json::object(), regs()).isReference());
}

TEST(Recipe, BadRecipesAreClearErrors) {
    EXPECT_THROW(recipeFromJson({{"formt", "int4"}}, regs()), Error);
    EXPECT_THROW(recipeFromJson({{"format", "int17"}}, regs()), Error);
    EXPECT_THROW(recipeFromJson({{"method", "nope"}, {"format", "int4"}}, regs()), Error);
    try {
        loadRecipeFile(qs::test::tinyLlama() / "config.json", regs());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos);
    }
}
