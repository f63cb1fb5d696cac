// SPDX-License-Identifier: MIT
// `quantscope-cli eval --low-memory` end to end on the fixture: the layer-major evaluation gives the
// reference perplexities and the whole-model path's KLD, while holding one layer's weights.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <gtest/gtest.h>
#include <utility>

using namespace qs::test;

namespace {

const std::string kModel = q(tinyLlama().string());
const std::string kTokens = q((tinyLlama() / "ref_test_tokens.npy").string());

// Bytes of a quantized Linear [rows, in] on an integer grid with one scale per `group` values along
// `in`, as the forward pass holds it: an int8 code a value and a float32 scale a run
// (tensor/compact_matrix.h).
long long codeBytes(long long rows, long long in, long long group) {
    return rows * in + 4 * rows * ((in + group - 1) / group);
}

// The same with 4-bit codes, two to a byte, each row starting on a byte.
long long nibbleBytes(long long rows, long long in, long long group) {
    return rows * ((in + 1) / 2) + 4 * rows * ((in + group - 1) / group);
}

// The same for INT4 asymmetric (codes q - zero, 16 values that leave -8..7 where the zero point is not
// 8): 4-bit codes and a one-byte code offset a run beside its scale.
long long offsetNibbleBytes(long long rows, long long in, long long group) {
    return nibbleBytes(rows, in, group) + rows * ((in + group - 1) / group);
}

// Weight bytes of the fixture from its config.json and its Linears' stored type (closed forms, not
// the tool's count): a forward pass holds the Linears as stored (BF16: 2 bytes a value), quantized
// ones on an integer grid as codes and scales, and everything else in float32.
struct FixtureBytes {
    long long resident = 0;      ///< embedding, untied head, final norm
    long long norms = 0;         ///< one decoder layer's two norms
    long long linears = 0;       ///< the seven Linears of one layer in float32 (rotated ones)
    long long codes = 0;         ///< the same quantized to INT4 asymmetric with groups of 32
    long long storedLinears = 0; ///< the same as the checkpoint stores them
    int layers = 0;
    long long codeLayer() const { return codes + norms; }           ///< a layer of quantized Linears
    long long storedLayer() const { return storedLinears + norms; } ///< a layer as stored
    long long full() const { return resident + layers * storedLayer(); }
    /// Layer by layer, a layer is held as stored while it is quantized, then quantized.
    long long oneLayer() const { return resident + std::max(storedLayer(), codeLayer()); }
};

FixtureBytes fixtureBytes() {
    const auto c = nlohmann::json::parse(std::ifstream(tinyLlama() / "config.json"));
    const long long h = c["hidden_size"], inter = c["intermediate_size"], vocab = c["vocab_size"];
    const long long hd = c["head_dim"], heads = c["num_attention_heads"], kv = c["num_key_value_heads"];
    FixtureBytes b;
    b.layers = c["num_hidden_layers"];
    b.resident = 4 * (2 * vocab * h + h);
    const long long linearValues = 2 * h * heads * hd + 2 * h * kv * hd + 3 * h * inter;
    b.linears = 4 * linearValues;
    b.codes = offsetNibbleBytes(heads * hd, h, 32) + 2 * offsetNibbleBytes(kv * hd, h, 32) + offsetNibbleBytes(h, heads * hd, 32) +
              2 * offsetNibbleBytes(inter, h, 32) + offsetNibbleBytes(h, inter, 32);
    b.storedLinears = fixtureLinearBytesPerValue() * linearValues;
    b.norms = 4 * 2 * h;
    return b;
}

// The layer-major KLD statistics equal the whole-model path's.
void expectSameKld(const nlohmann::json& low, const nlohmann::json& whole) {
    for (const char* key : {"mean", "median", "p99", "max", "top1_agreement"})
        EXPECT_NEAR(low["kld"][key].get<double>(), whole["kld"][key].get<double>(), 1e-6) << key;
}

// Runs the eval `args` with and without --low-memory and checks that they agree: perplexity, the
// transforms and their notes, bits per weight and the KLD statistics. Returns the low-memory run's
// JSON (null when either run failed).
nlohmann::json lowMemoryAgrees(const std::string& args) {
    const CliRun low = runCli(args + " --low-memory");
    const CliRun whole = runCli(args);
    EXPECT_EQ(low.exitCode, 0) << low.out;
    EXPECT_EQ(whole.exitCode, 0) << whole.out;
    if (low.exitCode != 0 || whole.exitCode != 0) return {};
    const auto l = low.json(), w = whole.json();
    EXPECT_LT(relErr(l["perplexity"].get<double>(), w["perplexity"].get<double>()), 1e-6) << l.dump();
    EXPECT_EQ(l["transforms"], w["transforms"]);
    EXPECT_DOUBLE_EQ(l["bits_per_weight"].get<double>(), w["bits_per_weight"].get<double>());
    expectSameKld(l, w);
    return l;
}

} // namespace

TEST(CliLowMemory, Fp32PerplexityWithOneLayerOfWeights) {
    const CliRun r = runCli("eval " + kModel + " --data " + kTokens + " --low-memory --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_LT(relErr(j["perplexity"].get<double>(), 8.458817407160915), 1e-4) << j.dump();
    EXPECT_EQ(j["tokens_scored"], 8128);
    EXPECT_EQ(j["low_memory"], true);
    const FixtureBytes b = fixtureBytes();
    EXPECT_EQ(j["peak_weight_bytes"].get<long long>(), b.resident + b.storedLayer());

    const CliRun whole = runCli("eval " + kModel + " --data " + kTokens + " --windows 2 --json");
    ASSERT_EQ(whole.exitCode, 0) << whole.out;
    EXPECT_EQ(whole.json()["low_memory"], false);
    EXPECT_EQ(whole.json()["peak_weight_bytes"].get<long long>(), b.full());
}

TEST(CliLowMemory, RtnInt4Group32EqualsTheWholeModelPath) {
    const std::string args = "eval " + kModel + " --data " + kTokens +
                             " --method rtn --format int4 --granularity group --group 32 --asym --kld --json";
    const CliRun low = runCli(args + " --low-memory");
    const CliRun whole = runCli(args);
    ASSERT_EQ(low.exitCode, 0) << low.out;
    ASSERT_EQ(whole.exitCode, 0) << whole.out;
    const auto l = low.json(), w = whole.json();
    EXPECT_LT(relErr(l["perplexity"].get<double>(), 8.494180127176628), 1e-4) << l.dump();
    EXPECT_LT(relErr(l["reference"]["perplexity"].get<double>(), 8.458817407160915), 1e-4);
    EXPECT_DOUBLE_EQ(l["bits_per_weight"].get<double>(), 4.625);
    EXPECT_EQ(l["recipe"], w["recipe"]);
    expectSameKld(l, w);
    EXPECT_EQ(l["kld"]["tokens"], 8128);
    // Whole model: the weights as stored plus every Linear quantized (as codes); layer by layer: one
    // layer.
    const FixtureBytes b = fixtureBytes();
    EXPECT_EQ(w["peak_weight_bytes"].get<long long>(), b.full() + b.layers * b.codes);
    EXPECT_EQ(l["peak_weight_bytes"].get<long long>(), b.oneLayer());
}

TEST(CliLowMemory, HumanReadableOutputAndHelp) {
    const CliRun r =
        runCli("eval " + kModel + " --data " + kTokens + " --windows 4 --low-memory --kv-quant int4");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_NE(r.out.find("KLD"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(layer by layer)"), std::string::npos) << r.out;
    const CliRun help = runCli("eval --help");
    EXPECT_NE(help.out.find("--low-memory"), std::string::npos) << help.out;
}

TEST(CliLowMemory, GptqWithCalibrationEqualsTheWholeModelPath) {
    const std::string args = "eval " + kModel + " --data " + kTokens +
                             " --method gptq --format int4 --granularity group --group 32 --asym --calib " +
                             q((fixtures() / "corpus" / "calib.txt").string()) + " --calib-windows 32 --json";
    const CliRun low = runCli(args + " --low-memory");
    const CliRun whole = runCli(args);
    ASSERT_EQ(low.exitCode, 0) << low.out;
    ASSERT_EQ(whole.exitCode, 0) << whole.out;
    const auto l = low.json(), w = whole.json();
    EXPECT_LT(relErr(l["perplexity"].get<double>(), w["perplexity"].get<double>()), 1e-6) << l.dump();
    EXPECT_LT(relErr(l["reference"]["perplexity"].get<double>(), 8.458817407160915), 1e-4);
    EXPECT_DOUBLE_EQ(l["bits_per_weight"].get<double>(), 4.625); // int4, a 16-bit scale and zero per 32
    EXPECT_EQ(l["recipe"], w["recipe"]);
    EXPECT_EQ(l["calibration"], w["calibration"]);
    EXPECT_EQ(l["calibration"]["tokens"], 32 * 128);
    expectSameKld(l, w);
    // The stored layer is dropped once its calibration statistics are taken: one layer at a time.
    const FixtureBytes b = fixtureBytes();
    EXPECT_EQ(l["peak_weight_bytes"].get<long long>(), b.oneLayer());
}

TEST(CliLowMemory, MissingCalibrationAndTransformsGiveAClearError) {
    const CliRun r = runCli("eval " + kModel + " --data " + kTokens +
                            " --low-memory --method gptq --format int4 --json");
    EXPECT_EQ(r.exitCode, 1) << r.out;
    const std::string error = r.json().value("error", "");
    EXPECT_NE(error.find("gptq"), std::string::npos) << error;
    EXPECT_NE(error.find("--calib"), std::string::npos) << error;

    // SmoothQuant's scales come from calibration statistics: without the data it says so.
    const CliRun smoothed = runCli("eval " + kModel + " --data " + kTokens +
                                   " --low-memory --method smoothquant+rtn --format int4 --json");
    EXPECT_EQ(smoothed.exitCode, 1) << smoothed.out;
    EXPECT_NE(smoothed.json().value("error", "").find("--calib"), std::string::npos) << smoothed.out;
}

// Rotations (QuaRot) are layer-local: --low-memory folds them one layer at a time, data-free or under
// GPTQ, and gets the whole-model path's numbers while holding one layer.
TEST(CliLowMemory, RotatedRecipesEqualTheWholeModelPath) {
    const std::string calib = " --calib " + q((fixtures() / "corpus" / "calib.txt").string()) + " --calib-windows 16";
    const FixtureBytes b = fixtureBytes();
    // Data-free, each rotated weight is quantized as it is made: the stored layer, then the quantized
    // one. Under GPTQ the rotated layer runs its calibration windows first, held in float32.
    const std::pair<std::string, long long> cases[] = {
        {"rotate+rtn --act-quant int8 --kv-quant int4", b.oneLayer()},
        {"rotate+gptq" + calib, b.resident + b.linears + b.norms}};
    for (const auto& [method, peak] : cases) {
        SCOPED_TRACE(method);
        const auto l = lowMemoryAgrees("eval " + kModel + " --data " + kTokens + " --windows 16 --method " + method +
                                       " --format int4 --granularity group --group 32 --asym --kld --json");
        ASSERT_FALSE(l.is_null());
        EXPECT_EQ(l["peak_weight_bytes"].get<long long>(), peak);
    }
}

// Sensitivity one decoder layer at a time: every figure of the whole-model measurement, while holding
// the resident weights, one layer and the largest decision group's quantized copy; mixed-precision
// says what --low-memory cannot do (evaluate its plans) and what to do instead.
TEST(CliLowMemory, SensitivityEqualsTheWholeModelMeasurement) {
    const std::string args = "sensitivity " + kModel + " --calib " + q((fixtures() / "corpus" / "calib.txt").string()) +
                             " --sens-windows 4 --ctx 64 --formats keep,int3:group:32:asym,int8:channel:sym"
                             " --hawq-probes 0 --json"; // the gradient score too: from the layer-major backward pass
    const CliRun low = runCli(args + " --low-memory");
    const CliRun whole = runCli(args);
    ASSERT_EQ(low.exitCode, 0) << low.out;
    ASSERT_EQ(whole.exitCode, 0) << whole.out;
    const auto l = low.json()["result"], w = whole.json()["result"];
    EXPECT_TRUE(l["layer_major"].get<bool>());
    EXPECT_FALSE(w["layer_major"].get<bool>());
    ASSERT_EQ(l["groups"].size(), w["groups"].size());
    for (std::size_t g = 0; g < l["groups"].size(); ++g)
        EXPECT_EQ(l["groups"][g]["candidates"], w["groups"][g]["candidates"]) << g;
    EXPECT_TRUE(l["groups"][0]["candidates"][1].contains("gradient")) << l["groups"][0];
    EXPECT_TRUE(l["correlations"].contains("gradient")) << l["correlations"];
    EXPECT_EQ(l["reference"], w["reference"]);
    EXPECT_EQ(l["correlations"], w["correlations"]);
    const auto c = nlohmann::json::parse(std::ifstream(tinyLlama() / "config.json"));
    const long long h = c["hidden_size"], inter = c["intermediate_size"], hd = c["head_dim"];
    const long long heads = c["num_attention_heads"], kv = c["num_key_value_heads"];
    // The larger candidate of the largest group: int8 per channel (a byte a code, a scale a row) or
    // int3 asymmetric with groups of 32 (codes q - zero in -7..7: 4 bits, a scale per 32).
    const auto larger = [](long long rows, long long in) { return std::max(codeBytes(rows, in, in), nibbleBytes(rows, in, 32)); };
    const long long largestGroup =
        std::max({larger((heads + 2 * kv) * hd, h), larger(h, heads * hd), larger(2 * inter, h), larger(h, inter)});
    const FixtureBytes b = fixtureBytes();
    EXPECT_EQ(l["peak_weight_bytes"].get<long long>(), b.resident + b.storedLayer() + largestGroup);
    EXPECT_GE(w["peak_weight_bytes"].get<long long>(), b.full());

    const CliRun mp = runCli("mixed-precision " + kModel + " --data " + kTokens + " --calib " +
                             q((fixtures() / "corpus" / "calib.txt").string()) + " --budget 4 --low-memory --json");
    EXPECT_EQ(mp.exitCode, 1) << mp.out;
    EXPECT_NE(mp.json().value("error", "").find("--no-eval"), std::string::npos) << mp.out;
}

// Calibrated transforms one layer at a time: each layer's ResQ bases and SmoothQuant scales come from
// the calibration windows carried through the transformed, unquantized layers before it, as the
// whole-model statistics pass carries them; the numbers, the bits and the transforms' notes (every
// ResQ site's kept subspace) equal the whole-model path.
TEST(CliLowMemory, CalibratedTransformsEqualTheWholeModelPath) {
    const std::string calib = " --calib " + q((fixtures() / "corpus" / "calib.txt").string()) + " --calib-windows 8";
    for (const std::string& method : std::vector<std::string>{"resq+rtn --act-quant int4 --kv-quant int4", "resq+gptq",
                                                              "smoothquant+rtn --act-quant int8"}) {
        SCOPED_TRACE(method);
        const auto l = lowMemoryAgrees("eval " + kModel + " --data " + kTokens + " --windows 8 --method " + method +
                                       calib + " --format int4 --granularity group --group 32 --asym --kld --json");
        ASSERT_FALSE(l.is_null());
        if (method.rfind("resq", 0) == 0) {
            EXPECT_EQ(l["transforms"][0]["notes"]["sites"].size(), 4u * fixtureBytes().layers);
        }
        EXPECT_LT(l["peak_weight_bytes"].get<long long>(), fixtureBytes().full());
    }
    // Without calibration data it says what it needs.
    const CliRun bare = runCli("eval " + kModel + " --data " + kTokens + " --windows 2 --method resq+rtn --format int4 --low-memory --json");
    EXPECT_EQ(bare.exitCode, 1) << bare.out;
    EXPECT_NE(bare.json().value("error", "").find("calib"), std::string::npos) << bare.out;
}
