// SPDX-License-Identifier: MIT
#include "cost/decode_roofline.h"

#include "cost/gemv_kernels.h"

#include "base/error.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace qs::core {
namespace {

// Peaks are dense (spec §13: vendor sheets and LLM-Viewer's H100 entry list the 2:4-sparse figure, twice as high).
constexpr std::array kProfiles{
    // H100 SXM5 datasheet: 3.35 TB/s HBM3; FP16 tensor 989.4 TFLOPS dense (1979 sparse); INT8 1978.9 TOPS dense.
    DecodeHardware{"h100-sxm", 3350, 989.4, 1978.9, 1.98},
    // H200 SXM: 4.8 TB/s HBM3e, H100's tensor cores.
    DecodeHardware{"h200", 4800, 989.4, 1978.9, 1.98},
    // A100 SXM 80 GB: 2039 GB/s; FP16 312 TFLOPS dense (624 sparse); INT8 624 TOPS dense.
    DecodeHardware{"a100-sxm-80gb", 2039, 312, 624, 1.41},
    // RTX 4090 (Ada whitepaper): 1008 GB/s; FP16 tensor with FP32 accumulation 165.2 TFLOPS dense (330.3 with
    // FP16 accumulation; twice each with sparsity); INT8 660.6 TOPS dense.
    DecodeHardware{"rtx4090", 1008, 165.2, 660.6, 2.52},
    // This workbench's machine, 2 cores of an AMD EPYC (Zen 5) VM, measured once with both threads: 46.7 GB/s
    // streaming AVX-512 reads of 512 MiB, 132 GFLOPS fp32 FMA (a dequantising GEMV computes in fp32), 454 GOPS
    // int8 VNNI (vpdpbusd); 2.2 GHz from 70 GFLOPS per core at 32 fp32 FLOP per cycle.
    DecodeHardware{"cpu-2core", 46.7, 0.132, 0.454, 2.2},
};

// "custom" hardware defaults: §13's worked example (1 TB/s, 300 TOPS-class peak).
constexpr DecodeHardware kCustom{"custom", 1000, 300, 600, 1.0};

// Decode GEMV efficiency (fraction of bandwidth) per weight family. Placeholders until measured, except fp4:
// field.md reports NVFP4 (4.5 stored bits) decoding 8-12 % slower than FP8 (about 8) on an RTX PRO 6000,
// i.e. 4.5 / e_fp4 = 1.1 * 8 / e_fp8, e_fp4 = 0.51 * e_fp8 = 0.46 at e_fp8 = 0.9. fp16 = 1 is the roofline's
// own assumption, so speedups against fp16 are relative to a bandwidth-bound fp16 kernel.
const nlohmann::json& genericEfficiency() {
    static const nlohmann::json table = {{"fp16", 1.0}, {"fp8", 0.9}, {"int8", 0.9}, {"fp6", 0.7},
                                         {"int4", 0.8}, {"fp4", 0.46}, {"lut", 0.6},  {"vq", 0.5}};
    return table;
}

struct Efficiency {
    double value = 1;
    std::string key;  ///< the table key that gave it
    std::string note; ///< set when no key matched
};

nlohmann::json efficiencyTable(const nlohmann::json& params, std::string_view profile) {
    nlohmann::json table = defaultDecodeEfficiency(profile);
    const std::string text = params.at("efficiency").get<std::string>();
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return table;
    nlohmann::json given;
    try {
        given = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(std::string("decode: efficiency is not valid JSON: ") + e.what());
    }
    if (!given.is_object()) throw Error("decode: efficiency must be a JSON object {family or format: fraction}");
    for (const auto& [key, v] : given.items()) {
        if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
            throw Error("decode: efficiency '" + key + "' must be a positive number");
        table[key] = v;
    }
    return table;
}

// An exact format name (e.g. "nvfp4") wins over its family, so a measured kernel can be entered per format.
Efficiency efficiencyOf(const nlohmann::json& table, const std::string& name, const std::string& family) {
    for (const std::string& key : {name, family})
        if (table.contains(key)) return {table.at(key).get<double>(), key, {}};
    return {1.0, family, "no efficiency for '" + family + "': bandwidth-only"};
}

// One operator on the roofline (spec §13): weight bytes stream through the dequantising kernel at efficiency;
// activations and other plain bytes at full bandwidth.
struct OpTime {
    double seconds = 0;
    bool computeBound = false;
};

OpTime opTime(double ops, double peakOpsPerS, double streamedBytes, double efficiency, double plainBytes,
              double bytesPerS) {
    const double compute = ops / peakOpsPerS;
    const double memory = streamedBytes / (bytesPerS * efficiency) + plainBytes / bytesPerS;
    return {std::max(compute, memory), compute > memory};
}

double peakOps(const DecodeHardware& hw, bool int8) { return (int8 ? hw.peakTopsInt8 : hw.peakTflopsFp16) * 1e12; }

nlohmann::json perStep(double seconds, double batch) {
    return {{"step_time_s", seconds},
            {"tokens_per_s", seconds > 0 ? batch / seconds : 0.0},
            {"latency_ms_per_token", seconds * 1e3}};
}

// The KV cache of one decode step (spec §13): per transformer layer and sequence, K and V of `context` tokens read
// and the new token's K and V stored; QK^T and SV cost 2 * heads * headDim * context OPs each. With attention
// spans only `kept` of the context is read and attended (the fp16 baseline reads all of it).
struct Attention {
    bool counted = false;
    int layers = 0, heads = 0, kvHeads = 0, headDim = 0;
    double bytes = 0, ops = 0, seconds = 0, baselineSeconds = 0;
    std::string note;
};

Attention attention(const CostModelContext& c, const DecodeHardware& hw, const nlohmann::json& efficiencies,
                    double batch, double context, double kept, int activationBits) {
    Attention a;
    a.layers = c.layers;
    a.heads = c.heads > 0 ? c.heads : c.kvHeads;
    a.kvHeads = c.kvHeads > 0 ? c.kvHeads : c.heads;
    a.headDim = c.headDim > 0 ? c.headDim : (c.heads > 0 ? c.hidden / c.heads : 0);
    if (a.layers <= 0 || a.kvHeads <= 0 || a.headDim <= 0) {
        a.note = "KV cache not counted: the model context lacks layers, heads or head_dim";
        return a;
    }
    a.counted = true;
    const double bw = hw.bandwidthGBs * 1e9;
    auto timeAt = [&](double kvBits, int actBits, double share) {
        const double perToken = 2.0 * a.kvHeads * a.headDim * kvBits / 8;
        const double bytes = batch * (share * context + 1) * perToken; // context tokens read + the new one stored
        const double ops = batch * 4.0 * a.heads * a.headDim * share * context;
        const std::string family = decodeEfficiencyFamilyForBits(kvBits);
        const Efficiency eff = efficiencyOf(efficiencies, family, family);
        const bool int8 = kvBits <= 8 && actBits <= 8;
        return std::pair{bytes, a.layers * opTime(ops, peakOps(hw, int8), bytes, eff.value, 0, bw).seconds};
    };
    const auto [bytes, seconds] = timeAt(c.kvBits, activationBits, kept);
    a.bytes = a.layers * bytes;
    a.ops = a.layers * batch * 4.0 * a.heads * a.headDim * kept * context;
    a.seconds = seconds;
    a.baselineSeconds = timeAt(16, 16, 1.0).second;
    return a;
}

// The weights outside the costed layers. Embeddings are looked up (batch rows per step); the lm_head and the
// rest (norms, biases) are read in full. Without a parameter count to split them, all of otherWeightBytes is read.
struct OtherWeights {
    double readBytes = 0, lookupBytes = 0, bits = 16, seconds = 0, baselineSeconds = 0;
    std::string rule;
};

OtherWeights otherWeights(const CostModelContext& c, const std::vector<LayerCost>& layers, double costedParams,
                          const DecodeHardware& hw, const nlohmann::json& efficiencies, double batch) {
    OtherWeights o;
    const double bw = hw.bandwidthGBs * 1e9;
    const double otherParams = static_cast<double>(c.totalParams) - costedParams;
    if (c.otherWeightBytes <= 0) {
        o.rule = "none: the model context gives no weight bytes outside the costed layers";
        return o;
    }
    double readParams = 0, lookupParams = 0, ops = 0;
    if (otherParams <= 0 || c.vocab <= 0 || c.hidden <= 0) {
        o.readBytes = c.otherWeightBytes;
        o.bits = 16;
        readParams = c.otherWeightBytes / 2; // only for the fp16 baseline below
        o.rule = "all other weight bytes read every step (no parameter count, vocab or hidden to split the "
                 "embedding out)";
    } else {
        o.bits = c.otherWeightBytes * 8 / otherParams;
        const double embed = static_cast<double>(c.vocab) * c.hidden;
        const bool lmHeadCosted = std::any_of(layers.begin(), layers.end(), [](const LayerCost& l) {
            return l.name.find("lm_head") != std::string::npos;
        });
        // Tied embeddings appear once: then the one vocab x hidden matrix is the lm_head, read in full.
        const bool separateEmbedding = otherParams >= (lmHeadCosted ? embed : 2 * embed);
        lookupParams = separateEmbedding ? embed : 0;
        readParams = otherParams - lookupParams;
        o.readBytes = readParams * o.bits / 8;
        o.lookupBytes = lookupParams > 0 ? batch * c.hidden * o.bits / 8 : 0;
        ops = lmHeadCosted ? 0 : 2.0 * embed * batch;
        o.rule = std::string(lmHeadCosted ? "lm_head costed as a layer; " : "lm_head (vocab x hidden) read in full; ") +
                 (separateEmbedding ? "embedding looked up (batch rows); " : "embedding tied to the lm_head; ") +
                 "norms and other parameters read in full";
    }
    const std::string family = decodeEfficiencyFamilyForBits(o.bits);
    const Efficiency eff = efficiencyOf(efficiencies, family, family);
    o.seconds = opTime(ops, peakOps(hw, false), o.readBytes, eff.value, o.lookupBytes, bw).seconds;
    const Efficiency eff16 = efficiencyOf(efficiencies, "fp16", "fp16");
    const double lookup16 = lookupParams > 0 ? batch * c.hidden * 2.0 : 0;
    o.baselineSeconds = opTime(ops, peakOps(hw, false), readParams * 2.0, eff16.value, lookup16, bw).seconds;
    return o;
}

nlohmann::json hardwareJson(const DecodeHardware& hw) {
    return {{"profile", hw.name},
            {"bandwidth_gbs", hw.bandwidthGBs},
            {"peak_tflops_fp16", hw.peakTflopsFp16},
            {"peak_tops_int8", hw.peakTopsInt8},
            {"clock_ghz", hw.clockGHz}};
}

} // namespace

std::span<const DecodeHardware> decodeProfiles() { return kProfiles; }

DecodeHardware decodeHardwareFromParams(const nlohmann::json& p) {
    const std::string profile = p.at("profile").get<std::string>();
    const std::array<std::pair<const char*, double>, 4> numeric{{{"bandwidth_gbs", kCustom.bandwidthGBs},
                                                                 {"peak_tflops_fp16", kCustom.peakTflopsFp16},
                                                                 {"peak_tops_int8", kCustom.peakTopsInt8},
                                                                 {"clock_ghz", kCustom.clockGHz}}};
    if (profile == "custom")
        return {kCustom.name, p.at("bandwidth_gbs").get<double>(), p.at("peak_tflops_fp16").get<double>(),
                p.at("peak_tops_int8").get<double>(), p.at("clock_ghz").get<double>()};
    // A changed hardware number under a named profile would be silently ignored: refuse it instead.
    for (const auto& [key, defaultValue] : numeric)
        if (p.contains(key) && p.at(key).get<double>() != defaultValue)
            throw Error(std::string("decode: ") + key + " applies to profile 'custom' only (profile is '" + profile +
                        "')");
    for (const DecodeHardware& hw : kProfiles)
        if (hw.name == profile) return hw;
    throw Error("decode: unknown hardware profile '" + profile + "'");
}

nlohmann::json defaultDecodeEfficiency(std::string_view profile) {
    nlohmann::json table = genericEfficiency();
    if (profile == "cpu-2core") { // this machine: the GEMV benchmark's measured fractions (gemv_kernels.h)
        const nlohmann::json measured = measuredDecodeEfficiency();
        table["fp16"] = measured.at("fp16");
        table["int4"] = measured.at("int4_g128");
        table["vq"] = measured.at("vq_d2_b3");
    }
    return table;
}

std::string decodeEfficiencyFamily(const CostFormat& f) {
    switch (f.family) {
    case CostFormatFamily::Float:
        if (f.bits >= 16) return "fp16";
        return f.bits <= 4 ? "fp4" : "fp" + std::to_string(f.bits);
    case CostFormatFamily::Integer:
        if (f.bits <= 4) return "int4";
        if (f.bits <= 8) return "int8";
        return "int" + std::to_string(f.bits);
    case CostFormatFamily::Codebook: return f.element == "vq" ? "vq" : "lut";
    case CostFormatFamily::Unknown: break;
    }
    return "unknown";
}

std::string decodeEfficiencyFamilyForBits(double bits) {
    if (bits <= 4) return "int4";
    if (bits <= 8) return "int8";
    return "fp16";
}

const ParamSchema& DecodeCostModel::params() const {
    static const ParamSchema schema = [] {
        std::vector<std::string> profiles;
        for (const DecodeHardware& hw : kProfiles) profiles.emplace_back(hw.name);
        profiles.emplace_back("custom");
        return ParamSchema{
            {"profile", ParamType::Choice, "h100-sxm", 0, 0, profiles,
             "hardware profile (dense peaks); 'custom' uses bandwidth_gbs, peak_tflops_fp16, peak_tops_int8, clock_ghz",
             "Hardware"},
            {"bandwidth_gbs", ParamType::Float, kCustom.bandwidthGBs, 1e-6, 1e9, {}, "memory bandwidth, GB/s (custom)",
             "Bandwidth GB/s"},
            {"peak_tflops_fp16", ParamType::Float, kCustom.peakTflopsFp16, 1e-9, 1e9, {},
             "dense FP16 peak, TFLOPS (custom)", "FP16 TFLOPS"},
            {"peak_tops_int8", ParamType::Float, kCustom.peakTopsInt8, 1e-9, 1e9, {}, "dense INT8 peak, TOPS (custom)",
             "INT8 TOPS"},
            {"clock_ghz", ParamType::Float, kCustom.clockGHz, 1e-6, 1e3, {}, "clock for reported cycles, GHz (custom)",
             "Clock GHz"},
            {"batch", ParamType::Int, 1, 1, 1 << 20, {}, "sequences decoding together (one token each per step)",
             "Batch"},
            {"context", ParamType::Int, 2048, 0, 1 << 30, {}, "tokens already in each sequence's KV cache", "Context"},
            {"kv_kept", ParamType::Float, 1.0, 1e-9, 1.0, {},
             "share of the context each step reads and attends (attention spans: `spans`' kv_kept_fraction)",
             "KV kept"},
            {"efficiency", ParamType::Text, "", 0, 0, {},
             "JSON {family or format: fraction of bandwidth its GEMV reaches}, merged over the profile's defaults "
             "(families fp16, fp8, fp6, fp4, int8, int4, lut, vq)",
             "Kernel efficiency"},
            {"activation_traffic", ParamType::Bool, true, 0, 0, {},
             "count activation loads/stores as LLM-Viewer does (off: weights and KV only, the closed form)",
             "Activation traffic"},
        };
    }();
    return schema;
}

LayerCost DecodeCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const DecodeHardware hw = decodeHardwareFromParams(params);
    const double batch = params.at("batch").get<double>();
    const bool activationTraffic = params.at("activation_traffic").get<bool>();
    const nlohmann::json efficiencies = efficiencyTable(params, hw.name);
    const double bw = hw.bandwidthGBs * 1e9;

    // One decode step: batch rows, whatever M the captured layer had.
    const LayerValueCounts n = layerValueCounts(layer);
    const double rows = std::max<double>(1, static_cast<double>(layer.M));
    const double valuesPerRow = (n.inputs + n.outputs) / rows;
    const double ops = 2.0 * static_cast<double>(layer.macs()) / rows * batch;
    const double weightBytes = n.weights * layer.weightStoredBits / 8;
    const double activationBytes = activationTraffic ? batch * valuesPerRow * layer.activationStoredBits / 8 : 0;

    const CostFormat format = classifyCostFormat(layer.weights.format);
    const std::string family = decodeEfficiencyFamily(format);
    const Efficiency eff = efficiencyOf(efficiencies, format.name, family);
    const bool int8 = layer.weights.bits <= 8 && layer.activations.bits <= 8;
    const OpTime t = opTime(ops, peakOps(hw, int8), weightBytes, eff.value, activationBytes, bw);

    const Efficiency eff16 = efficiencyOf(efficiencies, "fp16", "fp16");
    const double baselineWeightBytes = n.weights * 2.0;
    const double baselineActivationBytes = activationTraffic ? batch * valuesPerRow * 2.0 : 0;
    const OpTime base = opTime(ops, peakOps(hw, false), baselineWeightBytes, eff16.value, baselineActivationBytes, bw);

    LayerCost cost;
    cost.name = layer.name;
    cost.cycles = t.seconds * hw.clockGHz * 1e9;
    cost.baselineCycles = base.seconds * hw.clockGHz * 1e9;
    const double bytes = weightBytes + activationBytes;
    cost.extra = {{"weight_format", format.name},
                  {"params", n.weights},
                  {"weight_bytes", weightBytes},
                  {"activation_bytes", activationBytes},
                  {"bytes", bytes},
                  {"ops", ops},
                  {"arithmetic_intensity", bytes > 0 ? ops / bytes : 0.0},
                  {"peak", int8 ? "int8" : "fp16"},
                  {"activation_bits", layer.activations.bits},
                  {"efficiency_key", eff.key},
                  {"efficiency", eff.value},
                  {"time_s", t.seconds},
                  {"bound", t.computeBound ? "compute" : "memory"},
                  {"baseline_bytes", baselineWeightBytes + baselineActivationBytes},
                  {"baseline_time_s", base.seconds}};
    if (!eff.note.empty()) cost.extra["efficiency_note"] = eff.note;
    return cost;
}

nlohmann::json DecodeCostModel::modelFigures(const std::vector<LayerCost>& layers, const CostModelContext& context,
                                             const nlohmann::json& params) const {
    const DecodeHardware hw = decodeHardwareFromParams(params);
    const double batch = params.at("batch").get<double>();
    const double tokens = params.at("context").get<double>();
    const nlohmann::json efficiencies = efficiencyTable(params, hw.name);

    double linear = 0, linearBase = 0, weightBytes = 0, costedParams = 0, ops = 0;
    int activationBits = 0;
    bool allInt8 = !layers.empty();
    for (const LayerCost& l : layers) {
        linear += l.extra.value("time_s", 0.0);
        linearBase += l.extra.value("baseline_time_s", 0.0);
        weightBytes += l.extra.value("weight_bytes", 0.0);
        costedParams += l.extra.value("params", 0.0);
        ops += l.extra.value("ops", 0.0);
        activationBits = std::max(activationBits, l.extra.value("activation_bits", 16));
        allInt8 = allInt8 && l.extra.value("peak", std::string()) == "int8";
    }
    if (layers.empty()) activationBits = 16;

    const double kept = params.at("kv_kept").get<double>();
    const Attention att = attention(context, hw, efficiencies, batch, tokens, kept, activationBits);
    const OtherWeights other = otherWeights(context, layers, costedParams, hw, efficiencies, batch);
    const double step = linear + att.seconds + other.seconds;
    const double stepBase = linearBase + att.baselineSeconds + other.baselineSeconds;

    // §13 closed form: compute-bound once b > peak * w / (16 * BW), w = the plan's stored bits per weight.
    nlohmann::json computeBoundAbove = nullptr;
    if (costedParams > 0)
        computeBoundAbove = peakOps(hw, allInt8) * (8 * weightBytes / costedParams) / (16 * hw.bandwidthGBs * 1e9);

    nlohmann::json attentionJson = {{"counted", att.counted}, {"layers", att.layers},     {"heads", att.heads},
                                    {"kv_heads", att.kvHeads}, {"head_dim", att.headDim}, {"kv_bits", context.kvBits},
                                    {"context", tokens},       {"kv_kept", kept},         {"kv_bytes", att.bytes},
                                    {"ops", att.ops},
                                    {"time_s", att.seconds}};
    if (!att.note.empty()) attentionJson["note"] = att.note;
    nlohmann::json j = perStep(step, batch);
    j["hardware"] = hardwareJson(hw);
    j["batch"] = batch;
    j["efficiency"] = efficiencies;
    j["linear"] = {{"layers", layers.size()},
                   {"weight_bytes", weightBytes},
                   {"params", costedParams},
                   {"ops", ops},
                   {"time_s", linear}};
    j["attention"] = std::move(attentionJson);
    j["other_weights"] = {{"read_bytes", other.readBytes},
                          {"lookup_bytes", other.lookupBytes},
                          {"bits_per_param", other.bits},
                          {"time_s", other.seconds},
                          {"rule", other.rule}};
    j["fp16"] = perStep(stepBase, batch);
    j["speedup_vs_fp16"] = step > 0 ? stepBase / step : 0.0;
    j["compute_bound_above_batch"] = computeBoundAbove;
    return j;
}

std::unique_ptr<CostModel> makeDecodeCostModel() { return std::make_unique<DecodeCostModel>(); }

} // namespace qs::core
