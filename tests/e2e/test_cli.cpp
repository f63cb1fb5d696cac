// SPDX-License-Identifier: MIT
// The CLI end to end on the fixture, as a user scripts it (CLI contract of DESIGN.md).
#include "../core/fixture_paths.h"
#include "cli_runner.h"
#include "io/npy.h"
#include "model/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

using namespace qs::test;
namespace fs = std::filesystem;

TEST(CliInspect, ReportsEveryWeightWithStatistics) {
    const CliRun r = runCli("inspect " + q(tinyLlama().string()) + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["model_type"], "llama");
    EXPECT_EQ(j["parameters"], 1771200);
    EXPECT_EQ(j["config"]["num_key_value_heads"], 2);
    ASSERT_EQ(j["tensors"].size(), 39u);
    int quantizable = 0;
    for (const auto& t : j["tensors"]) {
        quantizable += t["quantizable"].get<bool>();
        for (const char* key : {"name", "shape", "dtype", "parameters", "min", "max", "std", "kurtosis",
                                "outlier_share_6sigma", "channel_absmax_min", "channel_absmax_max"})
            EXPECT_TRUE(t.contains(key)) << key;
        EXPECT_EQ(t["dtype"], "BF16");
        EXPECT_LE(t["min"].get<double>(), t["max"].get<double>());
    }
    EXPECT_EQ(quantizable, 28);
}

TEST(CliQuantize, RtnInt4Group32AsymReportsLayersAndBits) {
    const CliRun r = runCli("quantize " + q(tinyLlama().string()) +
                            " --method rtn --format int4 --granularity group --group 32 --asym --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    // Every quantized matrix has in_features 192 or 512, both multiples of 32: 4 + (16 + 4) / 32.
    EXPECT_DOUBLE_EQ(j["bits_per_weight"].get<double>(), 4.625);
    ASSERT_EQ(j["layers"].size(), 28u);
    for (const auto& l : j["layers"]) {
        EXPECT_DOUBLE_EQ(l["bits_per_weight"].get<double>(), 4.625);
        EXPECT_GT(l["mse"].get<double>(), 0.0);
        EXPECT_GT(l["sqnr_db"].get<double>(), 15.0); // 4-bit g32 on trained weights: ~20 dB
        EXPECT_LT(l["sqnr_db"].get<double>(), 30.0);
    }
    EXPECT_EQ(j["recipe"]["format"], "int4");
    EXPECT_EQ(j["recipe"]["sym"], false);
}

TEST(CliQuantize, OutWritesALoadableModelWithTheReferenceWeights) {
    const fs::path out = outputDir("cli_quantize_out") / "model";
    const CliRun r = runCli("quantize " + q(tinyLlama().string()) + " --method rtn --format int4 --granularity group"
                            " --group 32 --asym --out " + q(out.string()) + " --out-dtype f32 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
    auto model = qs::core::openModel(out);
    EXPECT_EQ(model->weights().size(), 39u);
    const auto* info = model->find("model.layers.1.mlp.down_proj.weight");
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->dtype, qs::core::DType::F32);
    const auto got = model->weightAsOutIn(*info);
    const auto ref = qs::core::readNpy(tinyLlama() / "ref_rtn_int4g32_down1.npy");
    ASSERT_EQ(got.size(), static_cast<std::size_t>(ref.numel()));
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], ref.data<float>()[i]) << i;
    // Unquantized tensors are carried over exactly (bf16 -> f32 is exact).
    auto original = qs::core::openModel(tinyLlama());
    EXPECT_EQ(model->weightAsOutIn(*model->find("lm_head.weight")),
              original->weightAsOutIn(*original->find("lm_head.weight")));

    const fs::path outBf16 = outputDir("cli_quantize_out_bf16") / "model";
    ASSERT_EQ(runCli("quantize " + q(tinyLlama().string()) + " --format int8 --granularity channel --out " +
                     q(outBf16.string()) + " --out-dtype bf16 --json").exitCode, 0);
    EXPECT_EQ(qs::core::openModel(outBf16)->find("model.layers.0.self_attn.q_proj.weight")->dtype,
              qs::core::DType::BF16);
}

TEST(CliErrors, FailuresAreJsonWithAMessage) {
    CliRun r = runCli("quantize /nonexistent/model --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.json()["error"].get<std::string>().find("/nonexistent/model"), std::string::npos);
    r = runCli("quantize " + q(tinyLlama().string()) + " --format int42 --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.json()["error"].get<std::string>().find("int42"), std::string::npos);
    r = runCli("inspect " + q(tinyLlama().string()) + " --bogus --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.json()["error"].get<std::string>().find("--bogus"), std::string::npos);
    r = runCli("frobnicate --json");
    EXPECT_EQ(r.exitCode, 1);
}

TEST(CliFormats, ListsEveryFormatWithItsFacts) {
    const CliRun r = runCli("formats --json");
    ASSERT_EQ(r.exitCode, 0);
    std::map<std::string, nlohmann::json> byName;
    const auto j = r.json(); // keep the document alive while iterating over it
    for (const auto& f : j["formats"]) byName[f["name"].get<std::string>()] = f;
    ASSERT_EQ(byName.size(), 25u);
    // Spec values: E4M3 max 448 and smallest subnormal 2^-9; E5M2 57344 and 2^-16; E2M1 6 and 0.5.
    EXPECT_EQ(byName["fp8_e4m3"]["max"], 448.0);
    EXPECT_EQ(byName["fp8_e4m3"]["min_positive"], std::ldexp(1.0, -9));
    EXPECT_EQ(byName["fp8_e4m3"]["distinct_values"], 253);
    EXPECT_EQ(byName["fp8_e5m2"]["max"], 57344.0);
    EXPECT_EQ(byName["fp8_e5m2"]["min_positive"], std::ldexp(1.0, -16));
    EXPECT_EQ(byName["fp4_e2m1"]["distinct_values"], 15);
    EXPECT_EQ(byName["mxfp4"]["bits_per_element"], 4.25);
    EXPECT_EQ(byName["mxfp4"]["block_size"], 32);
    EXPECT_EQ(byName["nvfp4"]["bits_per_element"], 4.5);
    EXPECT_EQ(byName["nvfp4"]["tensor_scale_bits"], 32);
    EXPECT_EQ(byName["int4"]["distinct_values"], 16);
    EXPECT_FALSE(byName["nf4"]["explanation"].get<std::string>().empty());
}

TEST(CliCompareFormats, EveryFormatOnOneLayerSortedByBits) {
    const CliRun r = runCli("compare-formats " + q(tinyLlama().string()) +
                            " --layer model.layers.1.mlp.down_proj.weight --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto trials = r.json().at("trials");
    ASSERT_GT(trials.size(), 60u);
    double lastBits = 0;
    std::map<std::string, double> sqnr;
    for (const auto& t : trials) {
        EXPECT_GE(t["bits_per_element"].get<double>(), lastBits);
        lastBits = t["bits_per_element"];
        // A lossless trial (bf16 of bf16 weights) has an infinite SQNR, written as null in JSON.
        sqnr[t["label"].get<std::string>()] = t["sqnr_db"].is_null() ? INFINITY : t["sqnr_db"].get<double>();
    }
    // More bits, less error: int8 per channel beats int4 per channel beats int2 per channel.
    EXPECT_GT(sqnr["int8 sym channel"], sqnr["int4 sym channel"] + 20);
    EXPECT_GT(sqnr["int4 sym channel"], sqnr["int2 sym channel"] + 10);
    EXPECT_GT(sqnr["bf16 sym tensor"], sqnr["int8 sym channel"]);
    EXPECT_TRUE(sqnr.count("mxfp4 sym block 32"));
    EXPECT_TRUE(sqnr.count("nvfp4 sym block 16"));
    EXPECT_EQ(runCli("compare-formats " + q(tinyLlama().string()) + " --layer nope --json").exitCode, 1);
}

TEST(CliQuantize, MxAndNvFormatsReportTheirBits) {
    CliRun r = runCli("quantize " + q(tinyLlama().string()) + " --format mxfp4 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_DOUBLE_EQ(r.json()["bits_per_weight"].get<double>(), 4.25);
    r = runCli("quantize " + q(tinyLlama().string()) + " --format nvfp4 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_NEAR(r.json()["bits_per_weight"].get<double>(), 4.5, 1e-3);
    r = runCli("quantize " + q(tinyLlama().string()) + " --format mxfp4 --asym --json");
    EXPECT_EQ(r.exitCode, 1);
}
