// SPDX-License-Identifier: MIT
// Quantization-aware training ("qat") on the fixture: at int2 group 32 it must beat GPTQ given the same
// calibration text (the PyTorch study: RTN 10.05, GPTQ-747 9.37, QAT 9.17); with a zero
// learning rate it is RTN exactly; it is deterministic for a seed at any thread count. Learned scales
// (LSQ) beat GPTQ at int2 as well, and the stored result is exactly the model training measured.
#include "builtin_registries.h"
#include "fixture_models.h"
#include "data/calib_data.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "nn/causal_lm_grad.h"
#include "quant/model_quantizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <omp.h>

using namespace qs::core;

namespace {

using qs::test::builtinRegistries;
using qs::test::fixtureModel;
using qs::test::fixtureTestTokens;

QuantJob job(const std::string& method, int bits, nlohmann::json params = nlohmann::json::object()) {
    QuantJob j;
    j.method = method;
    j.spec = QuantSpec{bits == 2 ? FormatId::Int2 : bits == 3 ? FormatId::Int3 : FormatId::Int4, Granularity::Group,
                       32, false};
    j.methodParams = std::move(params);
    return j;
}

struct Outcome {
    double perplexity = 0, seconds = 0;
    ModelQuantResult quant;
};

Outcome quantizeAndEvaluate(const QuantJob& j, const CalibrationData* calib) {
    const auto t0 = std::chrono::steady_clock::now();
    Outcome o;
    o.quant = quantizeModel(fixtureModel(), builtinRegistries(), j, {}, true, {}, calib);
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const CausalLm lm(fixtureModel(), o.quant.weights);
    o.perplexity = evaluatePerplexity(lm, fixtureTestTokens(), {128, 64}, {}).perplexity;
    return o;
}

} // namespace

TEST(QatFixture, Int2BeatsGptqGivenTheSameCalibrationText) {
    // The whole calibration text: 747 windows of 128 tokens.
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 128, 747);
    const Outcome rtn = quantizeAndEvaluate(job("rtn", 2), nullptr);
    const Outcome gptq = quantizeAndEvaluate(job("gptq", 2), &calib);
    // 100 steps at 3e-4 (test perplexity 9.28; GPTQ 9.37): the default 300 at 1e-4 gets 9.12, in three
    // times this test's longest part.
    const nlohmann::json train = {{"steps", 100}, {"lr", 3e-4}, {"train_batch", 8}};
    const Outcome qat = quantizeAndEvaluate(job("qat", 2, train), &calib);
    // LSQ: the scales learned too, at the default scale rate.
    nlohmann::json learned = train;
    learned["scales"] = "learned";
    const Outcome lsq = quantizeAndEvaluate(job("qat", 2, learned), &calib);
    std::printf("int2 g32 asym, test perplexity: RTN %.4f (%.1f s), GPTQ-747 %.4f (%.1f s), QAT %.4f (%.1f s), "
                "QAT with learned scales %.4f (%.1f s)\n",
                rtn.perplexity, rtn.seconds, gptq.perplexity, gptq.seconds, qat.perplexity, qat.seconds, lsq.perplexity,
                lsq.seconds);
    std::printf("QAT training: %s\n", qat.quant.calibration.at("qat").dump().c_str());
    EXPECT_LT(gptq.perplexity, rtn.perplexity);
    EXPECT_LT(qat.perplexity, gptq.perplexity);
    EXPECT_LT(lsq.perplexity, gptq.perplexity);
    const auto& t = qat.quant.calibration.at("qat");
    EXPECT_LT(t.at("held_out_loss_best").get<double>(), t.at("held_out_loss_start").get<double>());
}

TEST(Qat, ZeroLearningRateIsRtnAndTrainedWeightsReplaceTheRest) {
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 128, 4);
    const ModelQuantResult rtn = quantizeModel(fixtureModel(), builtinRegistries(), job("rtn", 3), {}, true, {}, nullptr);
    const ModelQuantResult still = quantizeModel(fixtureModel(), builtinRegistries(),
                                                 job("qat", 3, {{"steps", 2}, {"lr", 0.0}, {"train_batch", 2}}), {}, true, {}, &calib);
    for (const auto& [name, w] : rtn.weights) EXPECT_EQ(still.weights.at(name), w) << name;
    // Every other weight is there too (trained, here unchanged), so the result is the whole model.
    EXPECT_EQ(still.weights.at("model.norm.weight"), fixtureModel().weight("model.norm.weight").toFloats());
    EXPECT_EQ(still.weights.size(), 39u);
    EXPECT_EQ(still.job.method, "qat");
    EXPECT_EQ(still.job.methodParams.at("steps"), 2);
}

TEST(Qat, LearnedScalesAtZeroRatesAreRtn) {
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 128, 4);
    const ModelQuantResult rtn = quantizeModel(fixtureModel(), builtinRegistries(), job("rtn", 3), {}, true, {}, nullptr);
    const ModelQuantResult still = quantizeModel(
        fixtureModel(), builtinRegistries(),
        job("qat", 3, {{"steps", 2}, {"lr", 0.0}, {"train_batch", 2}, {"scales", "learned"}, {"scale_lr", 0.0}}), {}, true,
        {}, &calib);
    for (const auto& [name, w] : rtn.weights) EXPECT_EQ(still.weights.at(name), w) << name;
    ASSERT_EQ(still.layers.size(), rtn.layers.size());
    for (std::size_t i = 0; i < rtn.layers.size(); ++i) {
        EXPECT_EQ(still.layers[i].bitsPerWeight, rtn.layers[i].bitsPerWeight);
        EXPECT_EQ(still.layers[i].error.mse, rtn.layers[i].error.mse);
    }
    EXPECT_EQ(still.calibration.at("qat").at("learned_scales").at("mean_abs_log_change"), 0.0);
}

TEST(Qat, LearnedScalesAreTrainedAndTheResultIsTheTrainingsForwardPass) {
    // 8 windows of 64 tokens; 5% held out is one window, the last.
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 64, 8);
    const nlohmann::json params = {{"steps", 6}, {"lr", 1e-3}, {"train_batch", 2}, {"eval_every", 2}, {"seed", 1}};
    nlohmann::json lsq = params;
    lsq["scales"] = "learned";
    lsq["scale_lr"] = 2e-2;
    const ModelQuantResult learned = quantizeModel(fixtureModel(), builtinRegistries(), job("qat", 2, lsq), {}, true, {}, &calib);
    const ModelQuantResult fixed = quantizeModel(fixtureModel(), builtinRegistries(), job("qat", 2, params), {}, true, {}, &calib);
    const auto& t = learned.calibration.at("qat");
    std::printf("learned scales: %s\n", t.dump().c_str());
    EXPECT_EQ(t.at("scales"), "learned");
    EXPECT_EQ(fixed.calibration.at("qat").at("scales"), "fixed");
    EXPECT_GT(t.at("learned_scales").at("mean_abs_log_change").get<double>(), 1e-3);
    EXPECT_GT(t.at("best_step").get<int>(), 0);
    EXPECT_NE(learned.weights.at("model.layers.0.mlp.up_proj.weight"), fixed.weights.at("model.layers.0.mlp.up_proj.weight"));
    // The stored result is what training measured: its loss on the held-out window is the best one.
    GradOptions options;
    options.batchTokens = 2 * 64;
    const std::vector<std::span<const std::int32_t>> held{calib.windows[7]};
    const double loss = lossAlong(CausalLm(fixtureModel(), learned.weights), held, 1, {}, 0.0, options);
    EXPECT_NEAR(loss, t.at("held_out_loss_best").get<double>(), 1e-9);
}

TEST(Qat, LearnedScalesRefuseFormatsWithScalesOnAGrid) {
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 64, 4);
    QuantJob j = job("qat", 4, {{"steps", 1}, {"scales", "learned"}});
    j.spec = QuantSpec{FormatId::MxFp4, Granularity::Block, 32, true};
    try {
        quantizeModel(fixtureModel(), builtinRegistries(), j, {}, true, {}, &calib);
        ADD_FAILURE() << "mxfp4 scales were learned";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("mxfp4"), std::string::npos) << e.what();
    }
}

namespace {

// quantizeModel(j) at 1 and 2 threads.
std::pair<ModelQuantResult, ModelQuantResult> atOneAndTwoThreads(const QuantJob& j, const CalibrationData& calib) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ModelQuantResult one = quantizeModel(fixtureModel(), builtinRegistries(), j, {}, true, {}, &calib);
    omp_set_num_threads(2);
    ModelQuantResult two = quantizeModel(fixtureModel(), builtinRegistries(), j, {}, true, {}, &calib);
    omp_set_num_threads(saved);
    return {std::move(one), std::move(two)};
}

} // namespace

TEST(Qat, SameSeedSameWeightsAtAnyThreadCount) {
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 64, 8);
    const QuantJob j = job("qat", 3, {{"steps", 4}, {"lr", 1e-3}, {"train_batch", 3}, {"seed", 5}, {"eval_every", 2}});
    const auto [one, two] = atOneAndTwoThreads(j, calib);
    EXPECT_EQ(one.weights, two.weights);
    EXPECT_EQ(one.calibration.at("qat").at("final_running_loss"), two.calibration.at("qat").at("final_running_loss"));
    // A different seed draws other batches.
    QuantJob other = j;
    other.methodParams["seed"] = 6;
    const ModelQuantResult three = quantizeModel(fixtureModel(), builtinRegistries(), other, {}, true, {}, &calib);
    EXPECT_NE(one.weights, three.weights);
}

TEST(Qat, LearnedScalesSameBitsAtAnyThreadCount) {
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 32, 8);
    const QuantJob j = job("qat", 2, {{"steps", 3}, {"lr", 1e-3}, {"train_batch", 2}, {"seed", 2}, {"eval_every", 2},
                                      {"scales", "learned"}, {"scale_lr", 1e-2}});
    const auto [one, two] = atOneAndTwoThreads(j, calib);
    EXPECT_EQ(one.weights, two.weights);
    EXPECT_EQ(one.calibration.at("qat").at("learned_scales"), two.calibration.at("qat").at("learned_scales"));
}

TEST(Qat, AfterRotationsItTrainsInTheirBasisAndTheResultCarriesThem) {
    // 8 windows of 64 tokens; the last is held out.
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 64, 8);
    const std::vector<TransformStep> rotate{{"rotate", {}}};
    QuantJob rtn = job("rtn", 3);
    rtn.transforms = rotate;
    QuantJob still = job("qat", 3, {{"steps", 2}, {"lr", 0.0}, {"train_batch", 2}});
    still.transforms = rotate;
    const ModelQuantResult a = quantizeModel(fixtureModel(), builtinRegistries(), rtn, {}, true, {}, &calib);
    const ModelQuantResult b = quantizeModel(fixtureModel(), builtinRegistries(), still, {}, true, {}, &calib);
    for (const auto& [name, w] : a.weights) EXPECT_EQ(b.weights.at(name), w) << name; // folded norms too
    ASSERT_TRUE(b.transformed);
    EXPECT_TRUE(b.transformed->online);
    EXPECT_EQ(b.job.transforms.at(0).name, "rotate");

    QuantJob train = job("qat", 2, {{"steps", 10}, {"lr", 2e-4}, {"train_batch", 2}, {"eval_every", 5}, {"seed", 3}});
    train.transforms = rotate;
    const ModelQuantResult c = quantizeModel(fixtureModel(), builtinRegistries(), train, {}, true, {}, &calib);
    const auto& t = c.calibration.at("qat");
    EXPECT_LT(t.at("held_out_loss_best").get<double>(), t.at("held_out_loss_start").get<double>());
    // The result with its online rotations is the model training measured on the held-out window.
    CausalLm lm(fixtureModel(), c.weights);
    lm.setHooks(c.hooks({}));
    GradOptions options;
    options.batchTokens = 2 * 64;
    const std::vector<std::span<const std::int32_t>> held{calib.windows[7]};
    EXPECT_NEAR(lossAlong(lm, held, 1, {}, 0.0, options), t.at("held_out_loss_best").get<double>(), 1e-9);

    QuantJob resq = train;
    resq.transforms = {{"resq", {}}};
    try {
        quantizeModel(fixtureModel(), builtinRegistries(), resq, {}, true, {}, &calib);
        ADD_FAILURE() << "resq+qat ran";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("resq"), std::string::npos) << e.what();
    }
}

TEST(Qat, RulesMayChangeFormatsButNotMethodsAndItNeedsData) {
    EXPECT_THROW(quantizeModel(fixtureModel(), builtinRegistries(), job("qat", 3), {}, true, {}, nullptr), Error);
    const CalibrationData calib =
        loadCalibrationData(qs::test::fixtures() / "corpus" / "calib.txt", fixtureModel().path(), 64, 1);
    // One window cannot be split into training and held-out windows.
    EXPECT_THROW(quantizeModel(fixtureModel(), builtinRegistries(), job("qat", 3, {{"steps", 1}}), {}, true, {}, &calib), Error);
}
