// SPDX-License-Identifier: MIT
// Layer-major sensitivity (one decoder layer in memory; every evaluation advanced through it
// together) against the whole-model measurement: the same bits for every figure, in one pass or
// in several, with data-free and calibrated candidates, on Llama, GPT-2 and Mistral.
#include "analysis/candidate_formats.h"
#include "analysis/sensitivity.h"
#include "builtin_registries.h"
#include "fixture_models.h"
#include "naive_lm.h"
#include "nn/causal_lm.h"

#include <gtest/gtest.h>

using namespace qs::core;
using qs::test::builtinRegistries;
using qs::test::fixtureModel;
using qs::test::fixtureTestTokens;

namespace {

SensitivityOptions noBackward(const std::string& formats) {
    SensitivityOptions o;
    o.candidates = parseCandidateFormats(formats, builtinRegistries(), "test");
    o.gradientScore = false;
    o.hawqProbes = 0;
    return o;
}

void expectSameFigures(const SensitivityResult& whole, const SensitivityResult& layered, const std::string& what) {
    EXPECT_EQ(whole.reference.nll, layered.reference.nll) << what;
    EXPECT_EQ(whole.deltaLoss, layered.deltaLoss) << what;
    EXPECT_EQ(whole.kld, layered.kld) << what;
    EXPECT_EQ(whole.top1, layered.top1) << what;
    EXPECT_EQ(whole.localError, layered.localError) << what;
    EXPECT_EQ(whole.bitsPerWeight, layered.bitsPerWeight) << what;
    EXPECT_TRUE(whole.interaction == layered.interaction) << what;
    EXPECT_TRUE(whole.interactionKld == layered.interactionKld) << what;
    EXPECT_EQ(whole.pairsMeasured, layered.pairsMeasured) << what;
    EXPECT_EQ(whole.farMeanAbsKld, layered.farMeanAbsKld) << what;
    EXPECT_EQ(whole.evaluations, layered.evaluations) << what;
    EXPECT_EQ(whole.layerRuns, layered.layerRuns) << what;
    EXPECT_EQ(whole.layerRunsWithoutCache, layered.layerRunsWithoutCache) << what;
    EXPECT_EQ(whole.scoredTokens, layered.scoredTokens) << what;
}

} // namespace

TEST(SensitivityLayerMajor, EqualsTheWholeModelInOnePassAndInSeveral) {
    const CalibrationData set = calibrationWindows(fixtureTestTokens(), 32, 3, "fixture test tokens");
    SensitivityOptions o = noBackward("keep,int3:group:32:asym,gptq/int4:group:32:asym");
    o.gradientScore = true; // ModelOpt's score from the layer-major backward pass, GPTQ's weights from the kept stream
    o.pairs = true;
    o.pairDistance = 1;
    o.farPairSample = 2;
    const SensitivityResult whole = measureSensitivity(fixtureModel(), set, builtinRegistries(), o, {});
    o.layerMajor = true;
    const SensitivityResult onePass = measureSensitivity(fixtureModel(), set, builtinRegistries(), o, {});
    EXPECT_TRUE(onePass.layerMajor);
    EXPECT_EQ(onePass.passes, 1);
    expectSameFigures(whole, onePass, "one pass");
    ASSERT_FALSE(whole.gradientScore.empty());
    EXPECT_EQ(whole.gradientScore, onePass.gradientScore);
    EXPECT_TRUE(onePass.notes.empty());
    o.gradientScore = false;
    // Room for 40 streams at once: the evaluations take several walks over the layers, later ones
    // starting at their first changed layer and quantizing again (GPTQ from the kept float32 stream).
    const std::size_t stream = set.windows.size() * 32 * std::size_t(fixtureModel().config().hiddenSize) * sizeof(float);
    o.streamBytes = 40 * stream;
    const SensitivityResult passes = measureSensitivity(fixtureModel(), set, builtinRegistries(), o, {});
    EXPECT_EQ(passes.passes, int((whole.evaluations + 39) / 40));
    EXPECT_GT(passes.passes, 3);
    expectSameFigures(whole, passes, "several passes");
    // One decoder layer's float32 weights at a time, not the whole model's.
    const CausalLm lm(fixtureModel());
    EXPECT_LT(onePass.peakWeightBytes, whole.peakWeightBytes);
    EXPECT_GE(whole.peakWeightBytes, lm.weightBytes());
}

// GPT-2 (Conv1D stored [in, out], fused c_attn, tied head; room for one stream, so a pass per
// evaluation) and Mistral (sliding window), with the prefix cache off (every stream from layer 0);
// the gradient score is the whole model's; asked for HAWQ, it says it left it out.
TEST(SensitivityLayerMajor, OtherArchitecturesAndWhatItLeavesOut) {
    for (const char* type : {"gpt2", "mistral"}) {
        qs::test::TinySpec s;
        s.modelType = type;
        s.slidingWindow = std::string(type) == "mistral" ? 5 : 0;
        const auto dir = qs::test::outputDir(std::string("sensitivity_layer_major_") + type);
        qs::test::writeTinyModel(dir, s);
        const auto model = openModel(dir);
        const CalibrationData set = qs::test::tinyWindows();
        SensitivityOptions o = noBackward("keep,int4:group:16:asym,int8:channel:sym");
        o.pairs = true;
        o.prefixCache = false;
        o.gradientScore = true;
        const SensitivityResult whole = measureSensitivity(*model, set, builtinRegistries(), o, {});
        o.layerMajor = true;
        o.hawqProbes = 2;
        const bool onePerPass = std::string(type) == "gpt2";
        if (onePerPass) o.streamBytes = 1;
        const SensitivityResult layered = measureSensitivity(*model, set, builtinRegistries(), o, {});
        expectSameFigures(whole, layered, type);
        EXPECT_EQ(layered.passes, onePerPass ? int(whole.evaluations) : 1) << type;
        EXPECT_EQ(layered.layerRuns, layered.layerRunsWithoutCache) << type;
        EXPECT_EQ(layered.gradientScore, whole.gradientScore) << type;
        EXPECT_TRUE(layered.hawqScore.empty()) << type;
        ASSERT_EQ(layered.notes.size(), 1u) << type;
        EXPECT_NE(layered.notes[0].find("HAWQ"), std::string::npos) << type;
        EXPECT_EQ(layered.toJson()["notes"], nlohmann::json(layered.notes)) << type;
        EXPECT_TRUE(layered.toJson()["layer_major"].get<bool>()) << type;
    }
}
