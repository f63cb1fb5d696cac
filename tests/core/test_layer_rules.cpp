// SPDX-License-Identifier: MIT
// Per-layer recipes against shared/fixtures/tinyllama-bpe512/reference_mixed.json (computed
// independently with PyTorch) and the rules' own contract (glob, later rules win, canonical keys).
#include "builtin_registries.h"
#include "data/calib_data.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "eval/layer_major.h"
#include "eval/perplexity.h"
#include "fixture_models.h"
#include "quant/fake_quant.h"
#include "base/error.h"

#include <gtest/gtest.h>

using namespace qs::core;
using qs::test::fixtureModel;

namespace {

const Registries& regs() { return qs::test::builtinRegistries(); }

const nlohmann::json& mixedReference() {
    static const nlohmann::json j =
        nlohmann::json::parse(std::ifstream(qs::test::tinyLlama() / "reference_mixed.json"));
    return j;
}

Recipe mixedRecipe() { return recipeFromJson(mixedReference()["recipe"], regs(), "reference_mixed.json"); }

double relErr(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

// The fixture's names for the assignments ("int4_g32_asym") of our specs.
std::string fixtureName(const WeightAssignment& a) {
    if (a.keep) return "keep (BF16)";
    const QuantSpec& s = a.spec;
    if (a.method == "rtn" && s.format == FormatId::Int4 && s.granularity == Granularity::Group && s.groupSize == 32 &&
        !s.symmetric)
        return "int4_g32_asym";
    if (a.method == "rtn" && s.format == FormatId::Int8 && s.granularity == Granularity::Channel && s.symmetric)
        return "int8_perchannel_sym";
    return a.label();
}

} // namespace

TEST(LayerRules, GlobsMatchLikeFnmatch) {
    EXPECT_TRUE(globMatch("*.mlp.down_proj", "model.layers.1.mlp.down_proj"));
    EXPECT_TRUE(globMatch("model.layers.0.*", "model.layers.0.self_attn.q_proj"));
    EXPECT_FALSE(globMatch("model.layers.0.*", "model.layers.10.self_attn.q_proj"));
    EXPECT_TRUE(globMatch("model.layers.?.mlp.*", "model.layers.3.mlp.up_proj"));
    EXPECT_TRUE(globMatch("*.[qk]_proj", "model.layers.3.self_attn.k_proj"));
    EXPECT_FALSE(globMatch("*.[!qk]_proj", "model.layers.3.self_attn.k_proj"));
    EXPECT_FALSE(globMatch("*.Down_proj", "model.layers.1.mlp.down_proj")); // case-sensitive
    EXPECT_EQ(ruleName("model.layers.1.mlp.down_proj.weight"), "model.layers.1.mlp.down_proj");
    EXPECT_EQ(ruleName("conv1"), "conv1"); // ONNX initializer names need not end in .weight
}

TEST(LayerRules, FixtureRecipeAssignsEveryWeightAsTheReferenceSays) {
    const Recipe r = mixedRecipe();
    const auto& want = mixedReference()["assignment"];
    int n = 0;
    for (const auto& w : fixtureModel().weights()) {
        if (!w.quantizable) continue;
        ASSERT_TRUE(want.contains(w.name)) << w.name;
        EXPECT_EQ(fixtureName(r.job.assignmentFor(w.name)), want[w.name].get<std::string>()) << w.name;
        ++n;
    }
    EXPECT_EQ(n, static_cast<int>(want.size()));
}

TEST(LayerRules, FixtureRecipeBitsAreHonestPerWeightAndInTotal) {
    const ModelQuantResult q = quantizeModel(fixtureModel(), regs(), mixedRecipe().job, {}, false);
    const auto& ref = mixedReference();
    EXPECT_DOUBLE_EQ(q.bitsPerWeight, ref["bits_per_weight"].get<double>());
    EXPECT_EQ(q.quantizedParams, ref["total_params"].get<std::int64_t>());
    EXPECT_EQ(q.keptParams, ref["counts"]["keep (BF16, 16 bits)"]["params"].get<std::int64_t>());
    ASSERT_EQ(q.layers.size(), ref["per_weight"].size());
    for (const auto& want : ref["per_weight"]) {
        const auto it = std::find_if(q.layers.begin(), q.layers.end(),
                                     [&](const LayerQuantResult& l) { return l.name == want["name"]; });
        ASSERT_NE(it, q.layers.end()) << want["name"];
        EXPECT_DOUBLE_EQ(it->bitsPerWeight, want["bits_per_weight"].get<double>()) << it->name;
        EXPECT_EQ(it->kept, want["assignment"] == "keep (BF16)") << it->name;
        if (it->kept) {
            EXPECT_EQ(it->error.mse, 0.0) << it->name;
        }
    }
}

TEST(LayerRules, FixtureRecipeLogitsMatchReference) {
    const ModelQuantResult q = quantizeModel(fixtureModel(), regs(), mixedRecipe().job, {}, true);
    const CausalLm lm(qs::test::fixtureLm(), q.weights);
    const Tensor ids = readNpy(qs::test::tinyLlama() / "ref_tokens_7.npy");
    std::vector<std::int32_t> tokens(ids.numel());
    for (std::int64_t i = 0; i < ids.numel(); ++i)
        tokens[i] = ids.dtype() == DType::I64 ? static_cast<std::int32_t>(ids.data<std::int64_t>()[i])
                                              : ids.data<std::int32_t>()[i];
    const RowMatrixF logits = lm.forward(tokens);
    const Tensor want = readNpy(qs::test::tinyLlama() / "ref_logits_7_mixed.npy");
    ASSERT_EQ(want.numel(), logits.size());
    float worst = 0;
    for (std::int64_t i = 0; i < want.numel(); ++i)
        worst = std::max(worst, std::fabs(logits.data()[i] - want.data<float>()[i]));
    EXPECT_LT(worst, 1e-4f);
}

TEST(LayerRulesModel, FixtureRecipePerplexityMatchesReference) {
    const ModelQuantResult q = quantizeModel(fixtureModel(), regs(), mixedRecipe().job, {}, true);
    const CausalLm lm(qs::test::fixtureLm(), q.weights);
    const PerplexityResult r = evaluatePerplexity(lm, qs::test::fixtureTestTokens(), {128, 64}, {});
    EXPECT_EQ(r.tokensScored, mixedReference()["n_scored_tokens"].get<long long>());
    EXPECT_LT(relErr(r.perplexity, mixedReference()["ppl"].get<double>()), 1e-4) << r.perplexity;
}

TEST(LayerRulesModel, LayerMajorEvaluationGivesTheSameNumbers) {
    const Recipe r = mixedRecipe();
    const EvalOptions opts{128, 6};
    LayerMajorCandidate c;
    c.weights = r.job;
    c.registries = &regs();
    const LayerMajorResult lmr = evaluateLayerMajor(fixtureModel(), qs::test::fixtureTestTokens(), opts, c, {});
    const ModelQuantResult q = quantizeModel(fixtureModel(), regs(), r.job, {}, true);
    const CausalLm cand(qs::test::fixtureLm(), q.weights);
    const PerplexityResult direct = evaluatePerplexity(cand, qs::test::fixtureTestTokens(), opts, {});
    ASSERT_TRUE(lmr.comparison);
    EXPECT_LT(relErr(lmr.comparison->candidate.perplexity, direct.perplexity), 1e-6);
    ASSERT_TRUE(lmr.quant);
    EXPECT_DOUBLE_EQ(lmr.quant->bitsPerWeight, mixedReference()["bits_per_weight"].get<double>());
}

TEST(LayerRules, FlagsFileAndJsonSpellingsShareOneKey) {
    const Recipe file = mixedRecipe();
    // The --layer spelling of the same rules, over the flags' default.
    nlohmann::json j = recipeFromJson({{"method", "rtn"}, {"format", "int4"}, {"group", 32}, {"sym", false}}, regs()).toJson();
    j["layers"] = {layerRuleJsonFromFlag("*.mlp.down_proj=int8:channel:sym"), layerRuleJsonFromFlag("model.layers.0.*=keep")};
    EXPECT_EQ(recipeFromJson(j, regs()).canonical(), file.canonical());
    // Canonical text round-trips.
    EXPECT_EQ(recipeFromJson(file.toJson(), regs()).canonical(), file.canonical());
    // A rule that the default already says, or one a later rule with the same glob replaces, changes nothing.
    nlohmann::json k = mixedReference()["recipe"];
    k["layers"].insert(k["layers"].begin(), nlohmann::json::object({{"match", "*.self_attn.*"}, {"format", "int4"}}));
    k["layers"].insert(k["layers"].begin() + 1, nlohmann::json::object({{"match", "*.mlp.down_proj"}, {"format", "int3"}}));
    EXPECT_EQ(recipeFromJson(k, regs()).canonical(), file.canonical());
    // Order is meaning: the same two rules the other way round keep layer 0's down_proj at int8.
    nlohmann::json swapped = mixedReference()["recipe"];
    std::swap(swapped["layers"][0], swapped["layers"][1]);
    const Recipe other = recipeFromJson(swapped, regs());
    EXPECT_NE(other.canonical(), file.canonical());
    EXPECT_FALSE(other.job.assignmentFor("model.layers.0.mlp.down_proj.weight").keep);
    // A recipe without rules keeps the key it had before rules existed (stored projects stay valid).
    EXPECT_FALSE(recipeFromJson({{"format", "int4"}}, regs()).toJson().contains("layers"));
}

// A stored key holds canonical rules (every field filled); conciseRules gives back the rules as the fixture
// file writes them, and they resolve to the same key.
TEST(LayerRules, ConciseRulesAreTheRulesAsWritten) {
    nlohmann::json canonical = mixedRecipe().toJson();
    const nlohmann::json rules = canonical["layers"];
    ASSERT_TRUE(rules[0].contains("method")) << "canonical rules carry every field";
    canonical.erase("layers");
    const nlohmann::json concise = conciseRules(rules, canonical);
    EXPECT_EQ(concise, mixedReference()["recipe"]["layers"]) << concise.dump();
    canonical["layers"] = concise;
    EXPECT_EQ(recipeFromJson(canonical, regs()).canonical(), mixedRecipe().canonical());
}

TEST(LayerRules, UnnamedFieldsInheritAndFormatsFixTheirOwn) {
    const Recipe r = recipeFromJson({{"method", "rtn"}, {"format", "int4"}, {"group", 32}, {"sym", false},
                                     {"layers", {{{"match", "*.mlp.*"}, {"format", "mxfp4"}},
                                                 {{"match", "*.self_attn.o_proj"}, {"format", "int8"}}}}},
                                    regs());
    const WeightAssignment mx = r.job.assignmentFor("model.layers.2.mlp.up_proj.weight");
    EXPECT_EQ(mx.spec.format, FormatId::MxFp4);
    EXPECT_TRUE(mx.spec.symmetric); // MX has no zero point: the default's asym does not apply
    EXPECT_EQ(mx.spec.granularity, Granularity::Block);
    const WeightAssignment o = r.job.assignmentFor("model.layers.2.self_attn.o_proj.weight");
    EXPECT_EQ(o.spec.format, FormatId::Int8);
    EXPECT_EQ(o.spec.groupSize, 32); // inherited
    EXPECT_FALSE(o.spec.symmetric);  // inherited
    EXPECT_EQ(r.job.assignmentFor("model.layers.2.self_attn.q_proj.weight").rule, -1);
}

TEST(LayerRules, BadRulesAreNamedErrors) {
    const auto fails = [](const nlohmann::json& rule, const std::string& words) {
        try {
            recipeFromJson({{"format", "int4"}, {"layers", {rule}}}, regs(), "r.json");
            ADD_FAILURE() << "accepted " << rule.dump();
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("r.json: layers[0]"), std::string::npos) << e.what();
        }
    };
    fails({{"format", "int8"}}, "match");
    fails({{"match", "*"}, {"keep", true}, {"format", "int8"}}, "keep");
    fails({{"match", "*"}, {"formt", "int8"}}, "unknown key");
    fails({{"match", "*"}, {"method", "nope"}}, "unknown method");
    fails({{"match", "*"}, {"method", "rotate"}}, "whole model");
    fails({{"match", "*"}, {"transforms", nlohmann::json::array()}}, "whole model");
    fails({{"match", "*"}, {"format", "int4"}, {"granularity", "block"}}, "block");
    EXPECT_THROW(layerRuleJsonFromFlag("int8"), Error);
    nlohmann::json bad = {{"format", "int4"}, {"layers", {layerRuleJsonFromFlag("*=int8:x7")}}};
    EXPECT_THROW(recipeFromJson(bad, regs()), Error); // a granularity that does not exist fails in the gate
}

TEST(LayerRules, ARuleThatMatchesNoWeightNamesTheRuleAndTheModel) {
    const Recipe r = recipeFromJson({{"format", "int4"}, {"layers", {{{"match", "*.mlp.dwn_proj"}, {"keep", true}}}}}, regs());
    try {
        quantizeModel(fixtureModel(), regs(), r.job, {}, false);
        FAIL() << "a rule matching nothing was accepted";
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("*.mlp.dwn_proj"), std::string::npos) << m;
        EXPECT_NE(m.find("tinyllama-bpe512"), std::string::npos) << m;
    }
}

TEST(LayerRules, ARuleMayNameItsOwnMethod) {
    // GPTQ int4 on attention, RTN int8 per channel on the MLP. Layer 0's attention sees only the
    // embedding, so its weights equal a whole-model GPTQ run's; the MLP weights are plain RTN.
    const CalibrationData calib = loadCalibrationData(qs::test::tinyLlama() / "ref_calib_tokens.npy", fixtureModel().path(), 128, 4);
    const Recipe mixed = recipeFromJson({{"method", "rtn"}, {"format", "int8"}, {"granularity", "channel"},
                                         {"layers", {{{"match", "*.self_attn.*"}, {"method", "gptq"}, {"format", "int4"},
                                                      {"granularity", "group"}, {"group", 32}}}}},
                                        regs());
    EXPECT_TRUE(recipeNeedsCalibration(mixed, regs()));
    EXPECT_THROW(quantizeModel(fixtureModel(), regs(), mixed.job, {}, false), Error); // needs --calib
    const ModelQuantResult q = quantizeModel(fixtureModel(), regs(), mixed.job, {}, true, {}, &calib);
    const Recipe gptq = recipeFromJson({{"method", "gptq"}, {"format", "int4"}, {"group", 32}}, regs());
    const ModelQuantResult g = quantizeModel(fixtureModel(), regs(), gptq.job, {}, true, {}, &calib);
    EXPECT_EQ(q.weights.at("model.layers.0.self_attn.q_proj.weight"), g.weights.at("model.layers.0.self_attn.q_proj.weight"));
    const WeightInfo* down = fixtureModel().find("model.layers.2.mlp.down_proj.weight");
    const std::vector<float> w = fixtureModel().weightAsOutIn(*down);
    std::vector<float> rtn(w.size());
    fakeQuantize(w.data(), down->matrixRows(), down->matrixCols(), mixed.job.spec, rtn.data());
    EXPECT_EQ(q.weights.at(down->name), rtn);
    EXPECT_FALSE(q.calibration.is_null());
}
