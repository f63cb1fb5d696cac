// SPDX-License-Identifier: MIT
// "macs": the FP-vs-INT MAC table of ../shared/specs/cost-models.md §12 and the equal-area layer cost.
#include "error_text.h"
#include "base/error.h"
#include "base/param_schema.h"
#include "cost/mac_cost.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace qs::core;
using ::testing::HasSubstr;

using qs::test::errorOf;

namespace {

CostLayer fcLayer(const std::string& weightFormat, int weightBits, const std::string& activationFormat,
                  int activationBits, std::int64_t C = 256, std::int64_t F = 128, std::int64_t M = 64) {
    CostLayer l;
    l.name = "fc";
    l.C = C;
    l.F = F;
    l.M = M;
    l.weights.format = weightFormat;
    l.weights.bits = weightBits;
    l.activations.format = activationFormat;
    l.activations.bits = activationBits;
    l.weightStoredBits = weightBits;
    l.activationStoredBits = activationBits;
    return l;
}

nlohmann::json paramsOf(const CostModel& m, const nlohmann::json& given = nlohmann::json::object()) {
    return validateParams(m.params(), given, std::string(m.name()));
}

// A layer whose traffic is negligible: the compute term alone sets cycles.
const nlohmann::json kComputeBound = {{"dram_bytes_per_cycle", 1e9}};

} // namespace

TEST(CostMacs, ReadsNoValues) {
    const auto m = makeMacCostModel();
    EXPECT_EQ(m->name(), "macs");
    EXPECT_FALSE(m->needsActivations());
    EXPECT_FALSE(m->needsWeights());
}

TEST(CostMacs, SeededTableHoldsTheWhitepaperPointsAndUnsetTheRest) {
    const MacCostTable t = MacCostTable::seeded();
    ASSERT_NE(t.find("int8", "int32"), nullptr);
    EXPECT_EQ(*t.find("int8", "int32")->area, 1.0);
    EXPECT_EQ(*t.find("fp8_e4m3", "fp16")->area, 1.53);
    EXPECT_EQ(*t.find("fp8_e4m3", "fp16")->energy, 1.53);
    EXPECT_EQ(*t.find("fp8_e4m3", "fp32")->area, 2.83);
    const std::pair<const char*, const char*> unset[] = {
        {"int4", "int32"}, {"int16", "int32"}, {"fp8_e5m2", "fp32"}, {"fp16", "fp32"}};
    for (const auto& [row, acc] : unset) {
        const MacCostEntry* e = t.find(row, acc);
        ASSERT_NE(e, nullptr) << row;
        EXPECT_FALSE(e->area) << row;
        EXPECT_FALSE(e->energy) << row;
    }
    // The parameter's default is the seed, and an empty text means the seed too.
    const auto m = makeMacCostModel();
    const nlohmann::json p = paramsOf(*m);
    EXPECT_EQ(MacCostTable::fromParam(p.at("mac_cost").get<std::string>()).toJson(), t.toJson());
    EXPECT_EQ(MacCostTable::fromParam("").toJson(), t.toJson());
    EXPECT_TRUE(t.toJson()["fp16"]["fp32"].is_null());
}

TEST(CostMacs, ClassifiesFormatNames) {
    struct Case {
        const char* name;
        const char* element;
        CostFormatFamily family;
        int bits;
    };
    const Case cases[] = {
        {"int8", "int8", CostFormatFamily::Integer, 8},       {"int3", "int3", CostFormatFamily::Integer, 3},
        {"int16", "int16", CostFormatFamily::Integer, 16},    {"fp8_e4m3", "fp8_e4m3", CostFormatFamily::Float, 8},
        {"mxfp8_e4m3", "fp8_e4m3", CostFormatFamily::Float, 8}, {"mxfp4", "fp4_e2m1", CostFormatFamily::Float, 4},
        {"nvfp4", "fp4_e2m1", CostFormatFamily::Float, 4},    {"mxint8", "int8", CostFormatFamily::Integer, 8},
        {"nvint4", "int4", CostFormatFamily::Integer, 4},     {"nf4", "nf4", CostFormatFamily::Codebook, 4},
        {"fp16", "fp16", CostFormatFamily::Float, 16},        {"BF16", "bf16", CostFormatFamily::Float, 16},
        {"native", "fp16", CostFormatFamily::Float, 16},      {"fp32", "fp32", CostFormatFamily::Float, 32},
        {"gptvq", "vq", CostFormatFamily::Codebook, 0},       {"mystery", "mystery", CostFormatFamily::Unknown, 0},
    };
    for (const Case& c : cases) {
        const CostFormat f = classifyCostFormat(c.name);
        EXPECT_EQ(f.element, c.element) << c.name;
        EXPECT_EQ(f.family, c.family) << c.name;
        EXPECT_EQ(f.bits, c.bits) << c.name;
    }
    EXPECT_EQ(classifyCostFormat("native", "fp32").element, "fp32");
}

TEST(CostMacs, Int8IsTheReference) {
    const auto m = makeMacCostModel();
    const nlohmann::json p = paramsOf(*m);
    const LayerCost c = m->layer(fcLayer("int8", 8, "int8", 8), p);
    EXPECT_EQ(c.extra["mac_cost_status"], "priced");
    EXPECT_EQ(c.extra["mac_row"], "int8");
    EXPECT_EQ(c.extra["accumulator"], "int32");
    EXPECT_DOUBLE_EQ(c.cycles, c.baselineCycles);
    EXPECT_DOUBLE_EQ(c.energy, c.baselineEnergy);
    EXPECT_DOUBLE_EQ(c.speedup(), 1.0);
}

TEST(CostMacs, Fp8CostsTheWhitepaperRatioAtEqualArea) {
    const auto m = makeMacCostModel();
    const CostLayer l = fcLayer("fp8_e4m3", 8, "fp8_e4m3", 8);
    const double macs = static_cast<double>(l.macs());
    const EnergyParams e;
    for (const auto& [acc, ratio] : {std::pair{"fp16", 1.53}, std::pair{"fp32", 2.83}}) {
        nlohmann::json given = kComputeBound;
        given["fp_accumulator"] = acc;
        const LayerCost c = m->layer(l, paramsOf(*m, given));
        EXPECT_EQ(c.extra["mac_cost_status"], "priced") << acc;
        EXPECT_DOUBLE_EQ(c.extra["area_ratio"].get<double>(), ratio);
        // Equal area: ratio times fewer FP MACs fit the INT8 array's 1024.
        EXPECT_DOUBLE_EQ(c.cycles, macs * ratio / 1024) << acc;
        EXPECT_DOUBLE_EQ(c.baselineCycles, macs / 1024);
        EXPECT_NEAR(c.speedup(), 1 / ratio, 1e-12);
        EXPECT_DOUBLE_EQ(c.extra["compute_energy"].get<double>(), macs * int8MacEnergy(e) * ratio);
        EXPECT_EQ(c.extra["bound"], "compute");
    }
}

TEST(CostMacs, TrafficDependsOnlyOnBitsPerValue) {
    const auto m = makeMacCostModel();
    // Memory bound: one row, a narrow bus.
    const nlohmann::json p = paramsOf(*m, {{"dram_bytes_per_cycle", 0.5}, {"fp_accumulator", "fp16"}});
    const LayerCost i8 = m->layer(fcLayer("int8", 8, "int8", 8, 256, 128, 1), p);
    const LayerCost f8 = m->layer(fcLayer("fp8_e4m3", 8, "fp8_e4m3", 8, 256, 128, 1), p);
    EXPECT_EQ(f8.extra["bound"], "memory");
    EXPECT_DOUBLE_EQ(f8.cycles, i8.cycles);
    EXPECT_DOUBLE_EQ(i8.cycles, (256.0 * 128 + 256 + 128) / 0.5);
    // Compute energy still scales by the ratio; the traffic energy is the same.
    EXPECT_DOUBLE_EQ(f8.extra["memory_energy"].get<double>(), i8.extra["memory_energy"].get<double>());
    EXPECT_DOUBLE_EQ(f8.extra["compute_energy"].get<double>(), 1.53 * i8.extra["compute_energy"].get<double>());

    // W4A8: int8 MACs (the wider operand), half the weight bytes; stored bits with scales count.
    CostLayer w4 = fcLayer("int4", 4, "int8", 8, 256, 128, 1);
    w4.weightStoredBits = 4.125;
    const LayerCost c = m->layer(w4, p);
    EXPECT_EQ(c.extra["mac_row"], "int8");
    EXPECT_EQ(c.extra["weight_row"], "int4");
    EXPECT_DOUBLE_EQ(c.extra["weight_bytes"].get<double>(), 256.0 * 128 * 4.125 / 8);
    EXPECT_DOUBLE_EQ(c.cycles, (256.0 * 128 * 4.125 / 8 + 256 + 128) / 0.5);
    EXPECT_GT(c.speedup(), 1.0);
}

TEST(CostMacs, UnsetEntriesAreReportedNeverPricedAsOne) {
    const auto m = makeMacCostModel();
    const LayerCost c = m->layer(fcLayer("fp8_e5m2", 8, "fp8_e5m2", 8), paramsOf(*m));
    EXPECT_EQ(c.extra["mac_cost_status"], "unset");
    EXPECT_FALSE(c.extra["priced"].get<bool>());
    EXPECT_THAT(c.extra["mac_cost_note"].get<std::string>(), HasSubstr("fp8_e5m2/fp32"));
    EXPECT_TRUE(c.extra["area_ratio"].is_null());
    EXPECT_TRUE(std::isnan(c.cycles));
    EXPECT_TRUE(std::isnan(c.energy));
    EXPECT_TRUE(c.toJson()["cycles"].is_null() || std::isnan(c.toJson()["cycles"].get<double>()));
    EXPECT_EQ(nlohmann::json::parse(c.toJson().dump())["cycles"], nullptr);
    // The traffic is still known and reported.
    EXPECT_GT(c.extra["memory_cycles"].get<double>(), 0);

    // W4A16 runs at the fp16 row (the wider operand), unset as well: reported, not priced.
    const LayerCost w4a16 = m->layer(fcLayer("int4", 4, "native", 16), paramsOf(*m));
    EXPECT_EQ(w4a16.extra["mac_row"], "fp16");
    EXPECT_EQ(w4a16.extra["mac_cost_status"], "unset");
}

TEST(CostMacs, FormatWithoutRowIsUnpricedNotAnError) {
    const auto m = makeMacCostModel();
    const LayerCost c = m->layer(fcLayer("nvfp4", 4, "int8", 8), paramsOf(*m));
    EXPECT_EQ(c.extra["mac_cost_status"], "unpriced");
    EXPECT_THAT(c.extra["mac_cost_note"].get<std::string>(), HasSubstr("nvfp4 (fp4_e2m1): no row"));
    EXPECT_TRUE(c.extra["weight_row"].is_null());
    EXPECT_TRUE(std::isnan(c.cycles));
    // A missing accumulator column is unpriced too.
    const LayerCost acc = m->layer(fcLayer("int8", 8, "int8", 8), paramsOf(*m, {{"int_accumulator", "int24"}}));
    EXPECT_EQ(acc.extra["mac_cost_status"], "unpriced");
    EXPECT_THAT(acc.extra["mac_cost_note"].get<std::string>(), HasSubstr("int24"));
}

TEST(CostMacs, BlockAndNarrowFormatsUseTheirElementRow) {
    const auto m = makeMacCostModel();
    const nlohmann::json p = paramsOf(*m, {{"fp_accumulator", "fp16"}});
    const LayerCost mx = m->layer(fcLayer("mxfp8_e4m3", 8, "mxfp8_e4m3", 8), p);
    EXPECT_EQ(mx.extra["mac_row"], "fp8_e4m3");
    EXPECT_DOUBLE_EQ(mx.extra["area_ratio"].get<double>(), 1.53);
    EXPECT_EQ(m->layer(fcLayer("mxint8", 8, "int8", 8), p).extra["mac_row"], "int8");
    // int3 runs on the narrowest integer row that holds it (int4, unset in the seed) ...
    const LayerCost i3 = m->layer(fcLayer("int3", 3, "int3", 3), p);
    EXPECT_EQ(i3.extra["mac_row"], "int4");
    EXPECT_EQ(i3.extra["mac_cost_status"], "unset");
    // ... and beside int8 activations at the int8 row.
    const LayerCost w3a8 = m->layer(fcLayer("int3", 3, "int8", 8), p);
    EXPECT_EQ(w3a8.extra["weight_row"], "int4");
    EXPECT_EQ(w3a8.extra["mac_row"], "int8");
    EXPECT_EQ(w3a8.extra["mac_cost_status"], "priced");
    // FP8 x INT8: the float datapath at equal width.
    EXPECT_EQ(m->layer(fcLayer("int8", 8, "fp8_e4m3", 8), p).extra["mac_row"], "fp8_e4m3");
}

TEST(CostMacs, UsersFillTheTableAsJsonOrFile) {
    const auto m = makeMacCostModel();
    const std::string text = R"({"int4": {"int32": {"area": 0.5, "energy": 0.25}}})";
    const nlohmann::json p = paramsOf(*m, {{"mac_cost", text}, {"dram_bytes_per_cycle", 1e9}});
    const LayerCost c = m->layer(fcLayer("int4", 4, "int4", 4), p);
    EXPECT_EQ(c.extra["mac_cost_status"], "priced");
    EXPECT_DOUBLE_EQ(c.cycles, static_cast<double>(c.extra["macs"].get<double>()) * 0.5 / 1024);
    EXPECT_DOUBLE_EQ(c.extra["energy_ratio"].get<double>(), 0.25);
    // The seed's other entries survive the merge.
    EXPECT_EQ(m->layer(fcLayer("fp8_e4m3", 8, "fp8_e4m3", 8), p).extra["mac_cost_status"], "priced");

    // Absolute units are fine: prices divide by the int8/int32 entry.
    const auto path = std::filesystem::temp_directory_path() / "qs_test_mac_cost.json";
    std::ofstream(path) << R"({"int8": {"int32": {"area": 200, "energy": 10}},
                               "fp8_e4m3": {"fp32": {"area": 566, "energy": 28.3}}})";
    const LayerCost f = m->layer(fcLayer("fp8_e4m3", 8, "fp8_e4m3", 8), paramsOf(*m, {{"mac_cost", path.string()}}));
    EXPECT_NEAR(f.extra["area_ratio"].get<double>(), 2.83, 1e-12);
    EXPECT_NEAR(f.extra["energy_ratio"].get<double>(), 2.83, 1e-12);
    std::filesystem::remove(path);
}

TEST(CostMacs, MalformedTablesAreErrors) {
    EXPECT_THAT(errorOf([] { MacCostTable::fromParam(R"({"int8": 3})"); }), HasSubstr("row 'int8'"));
    EXPECT_THAT(errorOf([] { MacCostTable::fromParam(R"({"int8": {"int32": {"area": -1}}})"); }),
                HasSubstr("int8/int32 area"));
    EXPECT_THAT(errorOf([] { MacCostTable::fromParam(R"({"int8": {"int32": {"gates": 1}}})"); }),
                HasSubstr("unknown key 'gates'"));
    EXPECT_THAT(errorOf([] { MacCostTable::fromParam("{not json"); }), HasSubstr("not valid JSON"));
    EXPECT_THAT(errorOf([] { MacCostTable::fromParam("/nonexistent/mac.json"); }), HasSubstr("/nonexistent/mac.json"));
}

TEST(CostMacs, BitsSquaredRuleOnlyWhenUnpricedAndSaysSo) {
    const EnergyParams e;
    const MacCostTable t = MacCostTable::seeded();
    MacPricingOptions o;
    o.fpAccumulator = "fp16";
    const CostLayer fp8 = fcLayer("fp8_e4m3", 8, "fp8_e4m3", 8);
    const MacEnergy priced = macEnergy(priceMac(t, fp8, o), fp8, e);
    EXPECT_DOUBLE_EQ(priced.pj, 1.53 * int8MacEnergy(e));
    EXPECT_EQ(priced.source, "mac_cost table");
    const CostLayer fp4 = fcLayer("fp4_e2m1", 4, "fp4_e2m1", 4);
    const MacEnergy fallback = macEnergy(priceMac(t, fp4, o), fp4, e);
    EXPECT_DOUBLE_EQ(fallback.pj, e.mac * 16 / 256 + e.accumulate);
    EXPECT_THAT(fallback.source, HasSubstr("unpriced"));
}
