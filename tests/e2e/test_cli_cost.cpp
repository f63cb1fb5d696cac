// SPDX-License-Identifier: MIT
// `quantscope-cli cost` on the fixture LM and digits-cnn: the JSON contract, the spec's closed forms
// through the whole path (quantize, capture, price), stored results re-opened, stored runs priced,
// refusals, and a cost model as the mixed-precision budget.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kCalib = (fixtures() / "corpus" / "calib.txt").string();
const std::string kCnn = (fixtures() / "digits-cnn" / "model.onnx").string();
const std::string kImages = (fixtures() / "digits-cnn" / "calib_x.npy").string();

nlohmann::json cost(const std::string& args) {
    const CliRun r = runCli("cost " + args + " --json");
    EXPECT_EQ(r.exitCode, 0) << r.out;
    return r.json();
}

std::string lm(const std::string& costModel, const std::string& recipe) {
    return q(kModel) + " --model " + costModel + " --calib " + q(kCalib) + " --ctx 128 --windows 1 " + recipe;
}

const std::string kW8A8 = "--format int8 --granularity channel --act-quant int8:token";
const std::string kW4A8 = "--format int4 --granularity channel --act-quant int8:token";

// The fixture's decoder Linears [out, in] (fixtures/README.md 2.1).
const std::map<std::string, std::pair<int, int>> kShapes = {
    {"self_attn.q_proj", {192, 192}}, {"self_attn.k_proj", {64, 192}}, {"self_attn.v_proj", {64, 192}},
    {"self_attn.o_proj", {192, 192}}, {"mlp.gate_proj", {512, 192}},   {"mlp.up_proj", {512, 192}},
    {"mlp.down_proj", {192, 512}}};

} // namespace

// 128 tokens >= W: each Linear is a 1x1 conv of 128 windows (spec §15), so DaDianNao (one window per
// cycle) takes NW * CB * FS = 128 * ceil(in/16) * ceil(out/256) cycles and Stripes at Pa = 8 is exactly 16/8 = 2x.
TEST(CliCost, StripesOnTheFixtureMatchesTheClosedForms) {
    const nlohmann::json j = cost(lm("stripes", kW8A8));
    EXPECT_EQ(j["cost_model"], "stripes");
    EXPECT_NE(j["label"].get<std::string>().find("int8"), std::string::npos);
    ASSERT_EQ(j["layers"].size(), 28u);
    double base = 0, cycles = 0;
    for (const auto& l : j["layers"]) {
        const std::string name = l["name"].get<std::string>();
        const auto shape = kShapes.at(name.substr(name.find('.', 13) + 1));
        const double bp = 128.0 * ((shape.second + 15) / 16) * ((shape.first + 255) / 256);
        EXPECT_EQ(l["baseline_cycles"].get<double>(), bp) << name;
        EXPECT_EQ(l["speedup"].get<double>(), 2.0) << name;
        EXPECT_EQ(l["activation_precision"].get<int>(), 8) << name;
        base += l["baseline_cycles"].get<double>();
        cycles += l["cycles"].get<double>();
    }
    EXPECT_DOUBLE_EQ(j["total"]["speedup"].get<double>(), base / cycles); // a ratio of sums
    EXPECT_GT(j["total"]["energy_efficiency"].get<double>(), 1.0);
}

// Loom at static Pw = 4 (int4 codes -7..7) and Pa <= 8: at least B^2 / (Pa Pw) = 8x over the equal-peak
// engine, never above its potential; int8 weights are slower; 16 bits everywhere is 1x.
TEST(CliCost, LoomFollowsBothPrecisions) {
    const nlohmann::json w4 = cost(lm("loom", kW4A8));
    const nlohmann::json w8 = cost(lm("loom", kW8A8));
    const nlohmann::json fp = cost(lm("loom", ""));
    for (const auto& l : w4["layers"]) {
        EXPECT_EQ(l["weight_precision"].get<int>(), 4) << l.dump();
        EXPECT_GE(l["speedup"].get<double>(), 8.0 - 1e-9) << l.dump();
        EXPECT_LE(l["speedup"].get<double>(), l["potential_speedup"].get<double>() + 1e-9) << l.dump();
    }
    EXPECT_GT(w4["total"]["speedup"].get<double>(), w8["total"]["speedup"].get<double>());
    EXPECT_LE(fp["total"]["speedup"].get<double>(), w8["total"]["speedup"].get<double>());
    EXPECT_EQ(fp["capture"]["native_bits"], 16);
}

// The designs in the papers' order on digits-cnn with its calibration images (int8 weights and
// static int8 activations): DaDianNao 1 < Stripes < Dynamic Stripes / DPRed < Pragmatic, Bit-Tactical
// (TCLp) above the dynamic-precision design it extends, Loom above Stripes' one-operand gain.
TEST(CliCost, DesignsOrderOnDigitsCnn) {
    std::map<std::string, double> speedup;
    for (const std::string m : {"bitparallel", "stripes", "dpred", "pragmatic", "tactical", "loom"}) {
        const nlohmann::json j = cost(q(kCnn) + " --model " + m + " --calib " + q(kImages) +
                                      " --format int8 --granularity channel --act-quant int8:tensor");
        ASSERT_EQ(j["layers"].size(), 4u) << m;
        EXPECT_EQ(j["layers"][0]["name"].get<std::string>().empty(), false);
        speedup[m] = j["total"]["speedup"].get<double>();
    }
    EXPECT_EQ(speedup["bitparallel"], 1.0);
    EXPECT_GT(speedup["stripes"], 1.0);
    EXPECT_GT(speedup["dpred"], speedup["stripes"]);
    EXPECT_GT(speedup["pragmatic"], speedup["dpred"]);
    EXPECT_GT(speedup["tactical"], speedup["dpred"]);
    EXPECT_GT(speedup["loom"], 2 * speedup["stripes"] * 0.99);
}

TEST(CliCost, StoredOnceAndStoredRunsPriced) {
    const auto dir = outputDir("cli_cost_project");
    const std::string project = q((dir / "p.qsproj").string());
    const nlohmann::json first = cost(lm("dpred", kW4A8) + " --project " + project);
    EXPECT_FALSE(first["reused"].get<bool>());
    EXPECT_GT(first["id"].get<long long>(), 0);
    const nlohmann::json again = cost(lm("dpred", kW4A8) + " --project " + project);
    EXPECT_TRUE(again["reused"].get<bool>());
    EXPECT_EQ(again["id"], first["id"]);
    EXPECT_EQ(again["total"], first["total"]);
    EXPECT_EQ(again["layers"], first["layers"]);

    // A stored run's recipe, priced on its model, costs what the same recipe given directly costs.
    std::ofstream(dir / "grid.json") << R"({"format": "int4", "granularity": "channel", "act-quant": "int8:token"})";
    const CliRun s = runCli("sweep " + q(kModel) + " --grid " + q((dir / "grid.json").string()) + " --data " +
                            q(kCalib) + " --project " + project + " --ctx 64 --windows 2 --json");
    ASSERT_EQ(s.exitCode, 0) << s.out;
    const std::string run = std::to_string(s.json()["runs"][0]["run_id"].get<int>());
    const nlohmann::json priced = cost("--run " + run + " --project " + project + " --model dpred --calib " +
                                       q(kCalib) + " --ctx 128 --windows 1");
    EXPECT_EQ(priced["total"], first["total"]);
    EXPECT_EQ(priced["settings"]["run"].get<long long>(), std::stoll(run));
}

TEST(CliCost, RefusesWithClearErrors) {
    CliRun r = runCli("cost " + q(kModel) + " --model warp --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.out.find("unknown cost model 'warp'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("loom"), std::string::npos) << r.out;
    r = runCli("cost " + q(kModel) + " --model stripes --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.out.find("--calib"), std::string::npos) << r.out;
    r = runCli("cost " + lm("loom", kW8A8) + " --lanes 0 --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.out.find("lanes"), std::string::npos) << r.out;
    r = runCli("cost " + lm("stripes", kW8A8) + " --mode fast --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.out.find("--mode fast"), std::string::npos) << r.out;
    EXPECT_EQ(cost(lm("stripes", kW8A8) + " --mode dnnsim")["mode"], "one reading");
    r = runCli("cost " + q(kModel) + " --model loom --run 1 --json");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.out.find("--project"), std::string::npos) << r.out;
}

// A cost model as the budget: every plan fits its cycle budget, and more cycles never buy a worse plan
// by the solver's own objective.
TEST(CliCost, LoomCyclesAsTheMixedPrecisionBudget) {
    const std::string base = "mixed-precision " + q(kModel) + " --calib " + q(kCalib) +
                             " --sens-windows 2 --ctx 64 --formats int4:channel:sym,int8:channel:sym --no-eval"
                             " --solver greedy,uniform --unit cost --cost-model loom --json --budget ";
    // The range: all int4 (cheapest) to all int8.
    const CliRun lo = runCli(base + "1");
    ASSERT_EQ(lo.exitCode, 0) << lo.out;
    const std::string error = lo.json()["points"][0]["error"].get<std::string>();
    const double smallest = std::stod(error.substr(error.find("smallest plan, ") + 15));
    ASSERT_GT(smallest, 1);
    const CliRun r = runCli(base + std::to_string(smallest * 1.2) + "," + std::to_string(smallest * 1.6));
    ASSERT_EQ(r.exitCode, 0) << r.out;
    for (const auto& p : r.json()["points"]) {
        ASSERT_FALSE(p.contains("error")) << p.dump();
        EXPECT_LE(p["cost"].get<double>(), p["budget"].get<double>() * (1 + 1e-9)) << p.dump();
        EXPECT_GE(p["cost"].get<double>(), smallest * (1 - 1e-9)) << p.dump();
    }
}
