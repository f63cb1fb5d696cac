// SPDX-License-Identifier: MIT
// The digits CNN fixture: fp32 / INT8 / INT4 weights and W8A8 against the fixture's references.
#include "fixture_paths.h"

#include "experiment/builtins.h"
#include "quant/model_quantizer.h"
#include "eval/classifier_eval.h"
#include "io/array_source.h"
#include "io/npy.h"
#include "model/model.h"
#include "model/onnx_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

using namespace qs::core;

namespace {

std::filesystem::path dir() { return qs::test::fixtures() / "digits-cnn"; }

nlohmann::json reference() {
    std::ifstream in(dir() / "reference.json");
    return nlohmann::json::parse(in);
}

const OnnxModel& model() {
    static const auto m = OnnxModel::open(dir() / "model.onnx");
    return *m;
}

// The first 8 test images.
Tensor first8() {
    const Tensor x = readNpy(dir() / "test_x.npy");
    const auto v = x.toFloats();
    return Tensor::fromFloats({8, 1, 8, 8}, std::span<const float>(v.data(), 8 * 64));
}

std::map<std::string, std::vector<float>> perChannelWeights(FormatId format) {
    Registries reg;
    registerBuiltins(reg);
    QuantJob job;
    job.spec = QuantSpec::fromJson({{"format", format == FormatId::Int8 ? "int8" : "int4"}, {"granularity", "channel"}, {"sym", true}});
    return quantizeModel(model(), reg, job, {}, true).weights;
}

void expectLogits(const OnnxClassifier& c, const std::string& refFile, float tol) {
    std::int64_t classes = 0;
    const auto logits = c.logits(first8(), 3, classes, {}); // batch 3: batching must not matter
    const auto ref = readNpy(dir() / refFile).toFloats();
    ASSERT_EQ(classes, 10);
    ASSERT_EQ(logits.size(), ref.size());
    float worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(logits[i] - ref[i]));
    EXPECT_LT(worst, tol) << refFile;
}

void expectAccuracy(const OnnxClassifier& c, const std::string& variant) {
    const auto want = reference()["results"][variant];
    const auto labels = toLabels(readNpy(dir() / "test_y.npy"), "test_y.npy");
    const auto r = c.evaluate(readNpy(dir() / "test_x.npy"), labels, 64, {});
    EXPECT_EQ(r.n, 450);
    EXPECT_EQ(r.nCorrect, want["n_correct"].get<std::int64_t>()) << variant;
    EXPECT_EQ(r.misclassified, want["misclassified_indices"].get<std::vector<std::int64_t>>()) << variant;
}

ActivationQuant int8Static() {
    const auto ranges = calibrateActivationRanges(model(), readNpy(dir() / "calib_x.npy"), 50, {});
    return staticActivationQuant(QuantSpec::fromJson({{"format", "int8"}, {"granularity", "tensor"}, {"sym", true}}),
                                 ranges);
}

} // namespace

TEST(OnnxDigits, ModelStructure) {
    const auto m = openModel(dir() / "model.onnx");
    EXPECT_EQ(m->weights().size(), 8u);
    EXPECT_EQ(m->quantizableParameterCount(), 16 * 9 + 32 * 16 * 9 + 64 * 512 + 10 * 64);
    const auto* fc1 = m->find("fc1.weight");
    ASSERT_TRUE(fc1);
    EXPECT_FALSE(fc1->transposed); // transB = 1
    EXPECT_EQ(fc1->matrixRows(), 64);
    EXPECT_EQ(m->find("conv2.weight")->matrixCols(), 16 * 9);
    EXPECT_EQ(m->find("conv2.bias")->role, WeightRole::Bias);
}

TEST(OnnxDigits, Fp32LogitsAndAccuracy) {
    const OnnxClassifier c(model());
    expectLogits(c, "ref_logits_first8.npy", 1e-4f);
    expectAccuracy(c, "fp32");
}

TEST(OnnxDigits, Int8PerChannelWeights) {
    const OnnxClassifier c(model(), perChannelWeights(FormatId::Int8));
    expectLogits(c, "ref_logits_first8_w8.npy", 1e-4f);
    expectAccuracy(c, "w8_perchannel_sym");
}

TEST(OnnxDigits, Int4PerChannelWeights) {
    const OnnxClassifier c(model(), perChannelWeights(FormatId::Int4));
    expectLogits(c, "ref_logits_first8_w4.npy", 1e-4f);
    expectAccuracy(c, "w4_perchannel_sym");
}

TEST(OnnxDigits, ActivationScalesMatchCalibration) {
    const auto act = int8Static();
    const auto want = reference()["activation_calibration"]["scale"];
    ASSERT_EQ(act.staticParams.size(), 4u);
    const char* names[] = {"conv1", "conv2", "fc1", "fc2"};
    for (int k = 0; k < 4; ++k)
        EXPECT_NEAR(act.staticParams[k].scale, want[names[k]].get<double>(), 2e-7 * want[names[k]].get<double>())
            << names[k];
    EXPECT_EQ(act.staticParams[0].scale, 1.0f / 127.0f); // max |x| of the images is exactly 1
}

TEST(OnnxDigits, W8A8StaticActivations) {
    const OnnxClassifier c(model(), perChannelWeights(FormatId::Int8), int8Static());
    expectLogits(c, "ref_logits_first8_w8a8.npy", 1e-4f);
    expectAccuracy(c, "w8_perchannel_sym_a8_pertensor_sym");
}

TEST(OnnxDigits, H5DataMatchesNpy) {
    const Tensor a = readArraySpec((dir() / "digits.h5").string() + ":test_x");
    const Tensor b = readArraySpec((dir() / "test_x.npy").string());
    EXPECT_EQ(a.shape(), b.shape());
    EXPECT_EQ(a.toFloats(), b.toFloats());
    EXPECT_EQ(toLabels(readArraySpec((dir() / "digits.h5").string() + ":test_y"), "h5"),
              toLabels(readNpy(dir() / "test_y.npy"), "npy"));
}
