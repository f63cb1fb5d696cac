// SPDX-License-Identifier: MIT
// "decode": the memory-bound LLM decode roofline of ../shared/specs/cost-models.md §13.
#include "base/error.h"
#include "base/param_schema.h"
#include "cost/decode_roofline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace qs::core;
using ::testing::HasSubstr;

namespace {

CostLayer linear(const std::string& name, std::int64_t C, std::int64_t F, const std::string& weightFormat,
                 int weightBits, double storedBits, const std::string& activationFormat = "native",
                 int activationBits = 16) {
    CostLayer l;
    l.name = name;
    l.C = C;
    l.F = F;
    l.M = 128; // calibration rows: decode ignores them
    l.weights.format = weightFormat;
    l.weights.bits = weightBits;
    l.activations.format = activationFormat;
    l.activations.bits = activationBits;
    l.weightStoredBits = storedBits;
    l.activationStoredBits = activationBits;
    return l;
}

nlohmann::json paramsOf(const CostModel& m, const nlohmann::json& given) {
    return validateParams(m.params(), given, std::string(m.name()));
}

std::vector<LayerCost> costAll(const CostModel& m, const std::vector<CostLayer>& layers, const nlohmann::json& p) {
    std::vector<LayerCost> out;
    for (const auto& l : layers) out.push_back(m.layer(l, p));
    return out;
}

// §13's closed-form setting: 1 TB/s, batch 1, KV ignored, weights only.
nlohmann::json closedForm(nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json p = {{"profile", "custom"}, {"bandwidth_gbs", 1000.0}, {"batch", 1}, {"context", 0},
                        {"activation_traffic", false}, {"efficiency", R"({"int4": 1.0})"}};
    for (const auto& [k, v] : extra.items()) p[k] = v;
    return p;
}

// 7 B parameters in 7 layers of 1 B.
std::vector<CostLayer> sevenBillion(const std::string& format, int bits) {
    std::vector<CostLayer> layers;
    for (int i = 0; i < 7; ++i)
        layers.push_back(linear("layers." + std::to_string(i) + ".mlp", 100000, 10000, format, bits, bits));
    return layers;
}

} // namespace

TEST(CostDecode, ReadsNoValues) {
    const auto m = makeDecodeCostModel();
    EXPECT_EQ(m->name(), "decode");
    EXPECT_FALSE(m->needsActivations());
    EXPECT_FALSE(m->needsWeights());
}

TEST(CostDecode, SevenBillionParamsAtFourBitsDecode285TokensPerSecond) {
    const auto m = makeDecodeCostModel();
    const nlohmann::json p = paramsOf(*m, closedForm());
    const auto w4 = costAll(*m, sevenBillion("int4", 4), p);
    const nlohmann::json f4 = m->modelFigures(w4, CostModelContext{}, p);
    EXPECT_DOUBLE_EQ(f4["linear"]["weight_bytes"].get<double>(), 3.5e9);
    EXPECT_NEAR(f4["tokens_per_s"].get<double>(), 285.714, 1e-3);
    EXPECT_NEAR(f4["latency_ms_per_token"].get<double>(), 3.5, 1e-9);
    // The same plan in fp16 (the baseline figure) and a real fp16 plan: 71.4 tok/s.
    EXPECT_NEAR(f4["fp16"]["tokens_per_s"].get<double>(), 71.4286, 1e-3);
    EXPECT_NEAR(f4["speedup_vs_fp16"].get<double>(), 4.0, 1e-12);
    const auto w16 = costAll(*m, sevenBillion("fp16", 16), p);
    EXPECT_NEAR(m->modelFigures(w16, CostModelContext{}, p)["tokens_per_s"].get<double>(), 71.4286, 1e-3);
    for (const LayerCost& l : w4) EXPECT_EQ(l.extra["bound"], "memory");
}

TEST(CostDecode, ComputeBoundOnlyAboveTheClosedFormBatch) {
    const auto m = makeDecodeCostModel();
    // peak 300 TFLOPS, w = 16, BW = 1 TB/s: compute bound only when b > 300 * 16 / 16 = 300.
    const CostLayer fp16 = linear("fc", 8192, 8192, "fp16", 16, 16);
    auto at = [&](const CostLayer& l, int batch) {
        return m->layer(l, paramsOf(*m, closedForm({{"peak_tflops_fp16", 300.0}, {"batch", batch}})));
    };
    EXPECT_EQ(at(fp16, 300).extra["bound"], "memory");
    EXPECT_EQ(at(fp16, 301).extra["bound"], "compute");
    // 4-bit weights with fp16 activations stay on the FP16 peak: b > 300 * 4 / 16 = 75.
    const CostLayer w4 = linear("fc", 8192, 8192, "int4", 4, 4);
    EXPECT_EQ(at(w4, 75).extra["peak"], "fp16");
    EXPECT_EQ(at(w4, 75).extra["bound"], "memory");
    EXPECT_EQ(at(w4, 76).extra["bound"], "compute");
    const nlohmann::json p = paramsOf(*m, closedForm({{"peak_tflops_fp16", 300.0}}));
    EXPECT_NEAR(m->modelFigures({m->layer(w4, p)}, {}, p)["compute_bound_above_batch"].get<double>(), 75, 1e-9);
    // Compute bound: time = OPs / peak, OPs = 2 * C * F * batch.
    EXPECT_DOUBLE_EQ(at(fp16, 400).extra["time_s"].get<double>(), 2.0 * 8192 * 8192 * 400 / 300e12);
    EXPECT_DOUBLE_EQ(at(fp16, 400).extra["ops"].get<double>(), 2.0 * 8192 * 8192 * 400);
}

TEST(CostDecode, Int8PeakOnlyWhenWeightsAndActivationsAtMost8Bits) {
    const auto m = makeDecodeCostModel();
    const nlohmann::json p = paramsOf(*m, closedForm());
    EXPECT_EQ(m->layer(linear("a", 64, 64, "int8", 8, 8, "int8", 8), p).extra["peak"], "int8");
    EXPECT_EQ(m->layer(linear("b", 64, 64, "int4", 4, 4, "native", 16), p).extra["peak"], "fp16");
    EXPECT_EQ(m->layer(linear("c", 64, 64, "fp16", 16, 16, "int8", 8), p).extra["peak"], "fp16");
}

TEST(CostDecode, ActivationTrafficAndCyclesFollowLlmViewer) {
    const auto m = makeDecodeCostModel();
    const nlohmann::json p =
        paramsOf(*m, closedForm({{"activation_traffic", true}, {"batch", 4}, {"clock_ghz", 2.0}}));
    const LayerCost c = m->layer(linear("fc", 4096, 1024, "int4", 4, 4.5), p);
    const double weights = 4096.0 * 1024 * 4.5 / 8, activations = 4.0 * (4096 + 1024) * 2;
    EXPECT_DOUBLE_EQ(c.extra["weight_bytes"].get<double>(), weights);
    EXPECT_DOUBLE_EQ(c.extra["activation_bytes"].get<double>(), activations);
    const double seconds = (weights + activations) / 1e12;
    EXPECT_DOUBLE_EQ(c.extra["time_s"].get<double>(), seconds);
    EXPECT_DOUBLE_EQ(c.cycles, seconds * 2e9);
    EXPECT_DOUBLE_EQ(c.baselineCycles, (4096.0 * 1024 * 2 + activations) / 1e12 * 2e9);
    EXPECT_DOUBLE_EQ(c.energy, 0);
}

TEST(CostDecode, KvCacheReadsAtTheContextLength) {
    const auto m = makeDecodeCostModel();
    CostModelContext ctx;
    ctx.layers = 32;
    ctx.heads = 32;
    ctx.kvHeads = 8;
    ctx.headDim = 128;
    ctx.kvBits = 16;
    const nlohmann::json p = paramsOf(*m, closedForm({{"context", 1000}, {"batch", 2}}));
    const nlohmann::json f = m->modelFigures({}, ctx, p);
    // Per layer and sequence: K and V of 1000 cached tokens read, the new token's stored.
    const double kv = 32.0 * 2 * 1001 * 2 * 8 * 128 * 2;
    EXPECT_TRUE(f["attention"]["counted"].get<bool>());
    EXPECT_DOUBLE_EQ(f["attention"]["kv_bytes"].get<double>(), kv);
    EXPECT_DOUBLE_EQ(f["step_time_s"].get<double>(), kv / 1e12);
    EXPECT_DOUBLE_EQ(f["tokens_per_s"].get<double>(), 2 / (kv / 1e12));
    // An 8-bit cache moves half the bytes, at the int8 kernel's efficiency.
    ctx.kvBits = 8;
    const nlohmann::json p8 =
        paramsOf(*m, closedForm({{"context", 1000}, {"batch", 2}, {"efficiency", R"({"int8": 0.5})"}}));
    const nlohmann::json f8 = m->modelFigures({}, ctx, p8);
    EXPECT_DOUBLE_EQ(f8["attention"]["kv_bytes"].get<double>(), kv / 2);
    EXPECT_DOUBLE_EQ(f8["step_time_s"].get<double>(), kv / 2 / (1e12 * 0.5));
    EXPECT_DOUBLE_EQ(f8["fp16"]["step_time_s"].get<double>(), kv / 1e12);
    // Attention spans keeping a quarter of the context read a quarter of it (and the new token's K, V);
    // the fp16 baseline still reads all of it.
    ctx.kvBits = 16;
    const nlohmann::json pk = paramsOf(*m, closedForm({{"context", 1000}, {"batch", 2}, {"kv_kept", 0.25}}));
    const nlohmann::json fk = m->modelFigures({}, ctx, pk);
    EXPECT_DOUBLE_EQ(fk["attention"]["kv_bytes"].get<double>(), 32.0 * 2 * 251 * 2 * 8 * 128 * 2);
    EXPECT_DOUBLE_EQ(fk["attention"]["kv_kept"].get<double>(), 0.25);
    EXPECT_DOUBLE_EQ(fk["fp16"]["step_time_s"].get<double>(), kv / 1e12);
    // No layer count: not counted, and said so.
    const nlohmann::json none = m->modelFigures({}, CostModelContext{}, p);
    EXPECT_FALSE(none["attention"]["counted"].get<bool>());
    EXPECT_THAT(none["attention"]["note"].get<std::string>(), HasSubstr("not counted"));
}

TEST(CostDecode, OtherWeightsReadTheLmHeadAndLookUpTheEmbedding) {
    const auto m = makeDecodeCostModel();
    const nlohmann::json p = paramsOf(*m, closedForm({{"batch", 3}}));
    const std::vector<LayerCost> layers = {m->layer(linear("layers.0.mlp", 64, 64, "int4", 4, 4), p)};
    const double costed = 64 * 64, embed = 1000.0 * 64, norms = 128;
    CostModelContext ctx;
    ctx.vocab = 1000;
    ctx.hidden = 64;
    // Untied: the embedding is looked up (3 rows), the lm_head and norms read in full, all fp16.
    ctx.totalParams = static_cast<std::int64_t>(costed + 2 * embed + norms);
    ctx.otherWeightBytes = (2 * embed + norms) * 2;
    nlohmann::json o = m->modelFigures(layers, ctx, p)["other_weights"];
    EXPECT_DOUBLE_EQ(o["read_bytes"].get<double>(), (embed + norms) * 2);
    EXPECT_DOUBLE_EQ(o["lookup_bytes"].get<double>(), 3.0 * 64 * 2);
    EXPECT_THAT(o["rule"].get<std::string>(), HasSubstr("lm_head (vocab x hidden) read in full"));
    // Tied: the one matrix is the lm_head, read in full.
    ctx.totalParams = static_cast<std::int64_t>(costed + embed + norms);
    ctx.otherWeightBytes = (embed + norms) * 2;
    o = m->modelFigures(layers, ctx, p)["other_weights"];
    EXPECT_DOUBLE_EQ(o["read_bytes"].get<double>(), (embed + norms) * 2);
    EXPECT_DOUBLE_EQ(o["lookup_bytes"].get<double>(), 0);
    EXPECT_THAT(o["rule"].get<std::string>(), HasSubstr("tied"));
    // lm_head among the costed layers: only the embedding lookup and the norms remain.
    std::vector<LayerCost> withHead = layers;
    withHead.push_back(m->layer(linear("lm_head", 64, 1000, "int4", 4, 4), p));
    ctx.totalParams = static_cast<std::int64_t>(costed + 2 * embed + norms);
    ctx.otherWeightBytes = (embed + norms) * 2;
    o = m->modelFigures(withHead, ctx, p)["other_weights"];
    EXPECT_DOUBLE_EQ(o["read_bytes"].get<double>(), norms * 2);
    EXPECT_DOUBLE_EQ(o["lookup_bytes"].get<double>(), 3.0 * 64 * 2);
    // Step time adds the other weights' time to the layers'.
    const nlohmann::json f = m->modelFigures(withHead, ctx, p);
    const double other = (norms * 2 + 3.0 * 64 * 2) / 1e12;
    EXPECT_NEAR(f["step_time_s"].get<double>(),
                f["linear"]["time_s"].get<double>() + other, 1e-18);
}

TEST(CostDecode, ProfilesUseDensePeaks) {
    const auto m = makeDecodeCostModel();
    const nlohmann::json h100 = paramsOf(*m, {{"profile", "h100-sxm"}});
    const DecodeHardware hw = decodeHardwareFromParams(h100);
    EXPECT_DOUBLE_EQ(hw.peakTflopsFp16, 989.4); // not the 1979 sparse figure
    EXPECT_DOUBLE_EQ(hw.bandwidthGBs, 3350);
    EXPECT_DOUBLE_EQ(decodeHardwareFromParams(paramsOf(*m, {{"profile", "rtx4090"}})).bandwidthGBs, 1008);
    EXPECT_GT(decodeHardwareFromParams(paramsOf(*m, {{"profile", "cpu-2core"}})).bandwidthGBs, 0);
    for (const DecodeHardware& p : decodeProfiles()) EXPECT_LE(p.peakTflopsFp16 * 2, p.peakTopsInt8 * 1.01) << p.name;
    // A hardware number under a named profile would be ignored: refused instead.
    EXPECT_THROW(decodeHardwareFromParams(paramsOf(*m, {{"profile", "h100-sxm"}, {"bandwidth_gbs", 2000.0}})), Error);
    const nlohmann::json custom = paramsOf(*m, {{"profile", "custom"}, {"bandwidth_gbs", 2000.0}});
    EXPECT_DOUBLE_EQ(decodeHardwareFromParams(custom).bandwidthGBs, 2000);
    EXPECT_EQ(m->modelFigures({}, {}, h100)["hardware"]["profile"], "h100-sxm");
}

TEST(CostDecode, KernelEfficiencyKeepsFp4FromTheBytesOnlyGain) {
    const auto m = makeDecodeCostModel();
    const nlohmann::json p = paramsOf(*m, {{"profile", "custom"}, {"context", 0}, {"activation_traffic", false}});
    const CostLayer nvfp4 = linear("fc", 4096, 4096, "nvfp4", 4, 4.5);
    const CostLayer fp8 = linear("fc", 4096, 4096, "fp8_e4m3", 8, 8);
    const LayerCost c4 = m->layer(nvfp4, p), c8 = m->layer(fp8, p);
    EXPECT_EQ(c4.extra["efficiency_key"], "fp4");
    EXPECT_DOUBLE_EQ(c4.extra["efficiency"].get<double>(), defaultDecodeEfficiency("custom")["fp4"].get<double>());
    // Bytes alone would give 8 / 4.5 = 1.78x; the FP4 kernel's efficiency takes most of it back.
    const double gain = c8.cycles / c4.cycles;
    EXPECT_LT(gain, 8 / 4.5 * 0.75);
    EXPECT_DOUBLE_EQ(c4.extra["time_s"].get<double>(),
                     4096.0 * 4096 * 4.5 / 8 / (1e12 * c4.extra["efficiency"].get<double>()));
    // A measured figure per format wins over the family's.
    const LayerCost measured =
        m->layer(nvfp4, paramsOf(*m, {{"profile", "custom"}, {"efficiency", R"({"nvfp4": 0.9})"}}));
    EXPECT_EQ(measured.extra["efficiency_key"], "nvfp4");
    EXPECT_DOUBLE_EQ(measured.extra["efficiency"].get<double>(), 0.9);
    // Families cover the cost formats.
    EXPECT_EQ(decodeEfficiencyFamily(classifyCostFormat("gptvq")), "vq");
    EXPECT_EQ(decodeEfficiencyFamily(classifyCostFormat("nf4")), "lut");
    EXPECT_EQ(decodeEfficiencyFamily(classifyCostFormat("int3")), "int4");
    EXPECT_EQ(decodeEfficiencyFamily(classifyCostFormat("mxint8")), "int8");
    EXPECT_EQ(decodeEfficiencyFamily(classifyCostFormat("native")), "fp16");
    EXPECT_EQ(decodeEfficiencyFamily(classifyCostFormat("mxfp6_e3m2")), "fp6");
    for (const char* family : {"fp16", "fp8", "fp6", "fp4", "int8", "int4", "lut", "vq"})
        EXPECT_TRUE(defaultDecodeEfficiency("cpu-2core").contains(family)) << family;
}

TEST(CostDecode, BadEfficiencyIsAnError) {
    const auto m = makeDecodeCostModel();
    const CostLayer l = linear("fc", 64, 64, "int4", 4, 4);
    EXPECT_THROW(m->layer(l, paramsOf(*m, {{"efficiency", "{"}})), Error);
    EXPECT_THROW(m->layer(l, paramsOf(*m, {{"efficiency", R"({"int4": 0})"}})), Error);
    EXPECT_THROW(m->layer(l, paramsOf(*m, {{"efficiency", "[1]"}})), Error);
}
