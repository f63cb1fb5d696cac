// SPDX-License-Identifier: MIT
#include "export/recipe_export.h"
#include "model/weight_layout.h"

#include "quant/held_weights.h"
#include "quant/model_quantizer.h"
#include "export/gguf_writer.h"
#include "export/hf_writer.h"
#include "io/file_util.h"
#include "io/safetensors.h"
#include "model/gguf_model.h"
#include "quant/fake_quant.h"
#include "base/error.h"

#include <cctype>
#include <cmath>
#include <map>

namespace qs::core {
namespace {

// A model whose quantized weights are replaced by their dequantized float32 values, for writers that
// take a Model (the GGUF writer).
class OverlayModel final : public Model {
public:
    OverlayModel(const Model& base, HeldWeights replaced)
        : m_base(base), m_replaced(std::move(replaced)), m_weights(base.weights()) {
        for (auto& w : m_weights)
            if (m_replaced.contains(w.name)) w.dtype = DType::F32;
    }
    const std::filesystem::path& path() const override { return m_base.path(); }
    const ModelConfig& config() const override { return m_base.config(); }
    const std::vector<WeightInfo>& weights() const override { return m_weights; }
    Tensor weight(const std::string& name) const override {
        if (!m_replaced.contains(name)) return m_base.weight(name);
        return Tensor::fromFloats(m_base.find(name)->shape, m_replaced.values(name));
    }

private:
    const Model& m_base;
    HeldWeights m_replaced;
    std::vector<WeightInfo> m_weights;
};

// The recipe's quantized weights (and those a transform replaced), each held compactly as it is made:
// never the whole model in float32.
HeldWeights dequantizedWeights(const Model& model, const Recipe& recipe, const MethodRegistries& registries,
                               const JobContext& ctx) {
    HeldWeights held;
    if (!recipe.quantizeWeights) return held;
    quantizeModel(model, registries, recipe.job, ctx, false, {}, nullptr, nullptr,
                  [&](const std::string& name, const std::vector<float>& values) { held.add(model, name, values); });
    return held;
}

// Whether an assignment packs as integer codes (INT-k per tensor, channel or group).
bool packable(const WeightAssignment& a) {
    const QuantSpec& spec = a.spec;
    return !a.keep && formatTraits(spec.format).kind == FormatKind::Integer &&
           (spec.granularity == Granularity::Tensor || spec.granularity == Granularity::Channel ||
            spec.granularity == Granularity::Group);
}

nlohmann::json writePacked(const Model& model, const Recipe& recipe, const MethodRegistries& registries,
                           const std::filesystem::path& out, const JobContext& ctx) {
    if (!recipe.quantizeWeights)
        throw Error(out.string() + ": safetensors-packed stores quantized weights; the recipe quantizes none");
    for (const auto& w : model.weights())
        if (const WeightAssignment a = recipe.job.assignmentFor(w.name); w.quantizable && !a.keep && !packable(a))
            throw Error(out.string() + ": safetensors-packed stores INT-k weights per tensor, channel or group; weight '" +
                        w.name + "' is " + a.label() + " (use --as safetensors or gguf)");
    const auto deq = dequantizedWeights(model, recipe, registries, ctx);
    std::vector<std::pair<std::string, Tensor>> tensors;
    nlohmann::json layerNames = nlohmann::json::array(), perLayer = nlohmann::json::object();
    for (const auto& w : model.weights()) {
        const WeightAssignment a = recipe.job.assignmentFor(w.name);
        if (!deq.contains(w.name) || a.keep) {
            tensors.emplace_back(w.name, model.weight(w.name));
            continue;
        }
        const QuantSpec& spec = a.spec;
        const auto& f = formatTraits(spec.format);
        const int k = f.elementBits;
        const std::int64_t rows = w.matrixRows(), cols = w.matrixCols();
        const std::vector<float> original = model.weightAsOutIn(w);
        const std::vector<float> values = outInFromStored(w, deq.values(w.name));
        const std::int64_t len = spec.runLength(cols);
        const std::int64_t groups = (cols + len - 1) / len;
        const bool packed = k <= 4;
        const std::int64_t qcols = packed ? (cols + 1) / 2 : cols;
        Tensor qweight = Tensor::zeros(DType::U8, {rows, qcols});
        Tensor scales = Tensor::zeros(DType::F32, {rows, groups});
        Tensor zeros = Tensor::zeros(DType::U8, {rows, groups});
        auto* q = qweight.mutableData<std::uint8_t>();
        auto* s = scales.mutableData<float>();
        auto* z = zeros.mutableData<std::uint8_t>();
        const RangeStats tensorRange = rangeOf(original.data(), original.size());
        std::vector<float> scratch(static_cast<std::size_t>(spec.granularity == Granularity::Tensor ? rows * cols : len));
        ScaleParams tensorParams{};
        if (spec.granularity == Granularity::Tensor)
            tensorParams = fitRun(f, spec, original.data(), original.size(), tensorRange, scratch.data());
        const float offset = spec.symmetric ? static_cast<float>(1 << (k - 1)) : 0.0f;
        for (std::int64_t r = 0; r < rows; ++r) {
            for (std::int64_t g = 0; g < groups; ++g) {
                const std::int64_t c0 = g * len, n = std::min(len, cols - c0);
                const ScaleParams p = spec.granularity == Granularity::Tensor
                                          ? tensorParams
                                          : fitRun(f, spec, original.data() + r * cols + c0,
                                                   static_cast<std::size_t>(n), tensorRange, scratch.data());
                s[r * groups + g] = p.scale;
                z[r * groups + g] = static_cast<std::uint8_t>(p.zero);
                for (std::int64_t c = c0; c < c0 + n; ++c) {
                    const float v = values[r * cols + c];
                    const float code = p.scale == 0.0f ? p.zero : std::nearbyint(v / p.scale) + p.zero;
                    // The codes come from the dequantized values; they must reproduce them exactly, which
                    // also catches a method whose scales are not the RTN ones.
                    const float stored = spec.symmetric ? code + offset : code;
                    if (p.scale * (code - p.zero) != v || stored < 0 || stored > static_cast<float>((1 << k) - 1))
                        throw Error(out.string() + ": weight '" + w.name + "' row " + std::to_string(r) +
                                    ": values are not on the RTN grid of " + a.label() +
                                    " (packed export needs the method's own scales)");
                    const auto u = static_cast<std::uint8_t>(stored);
                    if (packed)
                        q[r * qcols + c / 2] |= static_cast<std::uint8_t>((c % 2) ? u << 4 : u);
                    else
                        q[r * qcols + c] = u;
                }
            }
        }
        tensors.emplace_back(w.name + ".qweight", qweight);
        tensors.emplace_back(w.name + ".scales", scales);
        if (!spec.symmetric) tensors.emplace_back(w.name + ".zeros", zeros);
        layerNames.push_back(w.name);
        perLayer[w.name] = {{"bits", k},
                            {"granularity", std::string(granularityName(spec.granularity))},
                            {"group_size", spec.granularity == Granularity::Group ? spec.groupSize : -1},
                            {"sym", spec.symmetric}};
    }
    // The top-level fields describe the default; "per_layer" each packed weight (they differ under
    // layer rules).
    const QuantSpec& spec = recipe.job.spec;
    const int k = formatTraits(spec.format).elementBits;
    nlohmann::json config{{"quant_method", "quantscope-packed"},
                          {"bits", k},
                          {"granularity", std::string(granularityName(spec.granularity))},
                          {"group_size", spec.granularity == Granularity::Group ? spec.groupSize : -1},
                          {"sym", spec.symmetric},
                          {"scale_dtype", "float32"},
                          {"packing", k <= 4 ? "two codes per byte: column 2j low nibble, 2j+1 high nibble"
                                             : "one code per byte"},
                          {"dequantize", spec.symmetric ? "scale * (code - 2^(bits-1))" : "scale * (code - zero)"},
                          {"recipe", recipe.toJson()},
                          {"layers", layerNames},
                          {"per_layer", perLayer}};
    std::filesystem::create_directories(out);
    writeSafetensors(out / "model.safetensors", tensors, {{"format", "pt"}, {"quantization_config", config.dump()}});
    writeFileAtomically(out / "quantization_config.json", config.dump(2) + "\n");
    if (std::filesystem::is_directory(model.path()) && std::filesystem::exists(model.path() / "config.json"))
        copyFileAtomically(model.path() / "config.json", out / "config.json");
    return {{"layers", layerNames.size()}, {"quantization_config", config}};
}

nlohmann::json writeOverrides(const Model& model, const Recipe& recipe, const std::filesystem::path& out) {
    std::string text = "# llama-quantize --tensor-type overrides for QuantScope recipe: " + recipe.label() + "\n";
    if (recipe.activation || recipe.kvCache)
        text += "# activation / KV-cache quantization has no llama-quantize equivalent and is not listed\n";
    nlohmann::json mapped = nlohmann::json::array(), unmapped = nlohmann::json::array();
    for (const auto& w : model.weights()) {
        if (!w.quantizable) continue;
        std::string why = "the recipe quantizes no weights";
        const WeightAssignment a = recipe.job.assignmentFor(w.name);
        const auto type = recipe.quantizeWeights ? ggufTypeFor(a, w, why) : std::optional<std::string>{};
        const auto gname = hfToGgufName(w.name);
        if (type && gname) {
            text += "--tensor-type " + *gname + "=" + *type + "\n";
            mapped.push_back({{"name", w.name}, {"gguf_name", *gname}, {"type", *type}});
        } else {
            const std::string reason = gname ? why : "no llama GGUF name";
            text += "# " + w.name + ": " + reason + "\n";
            unmapped.push_back({{"name", w.name}, {"reason", reason}});
        }
    }
    writeFileAtomically(out, text);
    return {{"mapped", mapped}, {"unmapped", unmapped}};
}

// GgufType of a llama-quantize type name the writer can produce.
std::optional<GgufType> writableGgufType(const std::string& name) {
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const GgufType t : {GgufType::F32, GgufType::F16, GgufType::BF16, GgufType::Q8_0, GgufType::Q4_0, GgufType::Q4_1})
        if (ggufTypeName(static_cast<std::uint32_t>(t)) == upper) return t;
    return std::nullopt;
}

// Per-tensor GGUF types of the quantization scope: each weight's mapped type (F16 where none maps or
// the row length is not a multiple of the type's block).
std::map<std::string, GgufType> perTensorGgufTypes(const Model& model, const Recipe& recipe) {
    std::map<std::string, GgufType> types;
    for (const auto& w : model.weights()) {
        if (!w.quantizable || !recipe.quantizeWeights) continue;
        std::string why;
        const auto name = ggufTypeFor(recipe.job.assignmentFor(w.name), w, why);
        GgufType t = GgufType::F16;
        if (const auto writable = name ? writableGgufType(*name) : std::nullopt)
            if (w.shape.back() % ggufTypeTraits(static_cast<std::uint32_t>(*writable))->blockSize == 0) t = *writable;
        types[w.name] = t;
    }
    return types;
}

} // namespace

const std::vector<std::string>& exportKindNames() {
    static const std::vector<std::string> names{"recipe", "llama-overrides", "safetensors", "safetensors-packed",
                                                "gguf"};
    return names;
}

std::optional<GgufType> ggufTypeFromName(const std::string& name, const Recipe& recipe) {
    if (name.empty()) // rules map weight by weight; one type for the whole model otherwise (as before rules)
        return recipe.job.layers.empty() ? std::optional(GgufType::F16) : std::nullopt;
    if (name == "per-tensor") return std::nullopt;
    if (name == "f16") return GgufType::F16;
    if (name == "bf16") return GgufType::BF16;
    if (name == "q8_0") return GgufType::Q8_0;
    if (name == "q4_0") return GgufType::Q4_0;
    if (name == "q4_1") return GgufType::Q4_1;
    throw Error("--gguf-type " + name + ": expected per-tensor, f16, bf16, q8_0, q4_0 or q4_1");
}

ExportKind parseExportKind(const std::string& name) {
    if (name == "recipe") return ExportKind::Recipe;
    if (name == "llama-overrides") return ExportKind::LlamaOverrides;
    if (name == "safetensors") return ExportKind::Safetensors;
    if (name == "safetensors-packed") return ExportKind::SafetensorsPacked;
    if (name == "gguf") return ExportKind::Gguf;
    throw Error("--as " + name + ": expected recipe, llama-overrides, safetensors, safetensors-packed or gguf");
}

std::optional<std::string> ggufTypeFor(const WeightAssignment& a, const WeightInfo& w, std::string& why) {
    if (a.keep) {
        if (w.dtype == DType::BF16) return "bf16";
        if (w.dtype == DType::F16) return "f16";
        if (w.dtype == DType::F32) return "f32";
        why = "kept at its stored type " + std::string(dtypeName(w.dtype)) + ", which GGUF does not store";
        return std::nullopt;
    }
    const QuantSpec& s = a.spec;
    const auto& f = formatTraits(s.format);
    if (s.format == FormatId::Fp16) return "f16";
    if (s.format == FormatId::Bf16) return "bf16";
    const bool g32 = s.granularity == Granularity::Group && s.groupSize == 32;
    if (f.kind == FormatKind::Integer && g32 && s.scaleRule == ScaleRule::MinMax) {
        if (s.format == FormatId::Int8 && s.symmetric) return "q8_0";
        if (s.format == FormatId::Int4) return s.symmetric ? "q4_0" : "q4_1";
        if (s.format == FormatId::Int5) return s.symmetric ? "q5_0" : "q5_1";
    }
    why = s.label() + " has no GGUF type (GGUF's legacy types are int8 sym, int4/int5 sym or asym in groups of 32 "
                      "with min/max scales)";
    return std::nullopt;
}

nlohmann::json exportRecipe(const Model& model, const Recipe& recipe, const MethodRegistries& registries,
                            const std::filesystem::path& out, const ExportOptions& options, const JobContext& ctx) {
    nlohmann::json j{{"out", std::filesystem::absolute(out).string()}, {"recipe", recipe.toJson()}};
    if ((recipe.activation || recipe.kvCache) && options.kind != ExportKind::Recipe)
        j["warning"] = "activation / KV-cache quantization is a runtime setting and is not part of this export";
    switch (options.kind) {
    case ExportKind::Recipe:
        saveRecipeFile(out, recipe);
        j["as"] = "recipe";
        break;
    case ExportKind::LlamaOverrides:
        j.update(writeOverrides(model, recipe, out));
        j["as"] = "llama-overrides";
        break;
    case ExportKind::Safetensors:
        writeHfModel(model, dequantizedWeights(model, recipe, registries, ctx), out, DType::F32, ctx);
        j["as"] = "safetensors";
        break;
    case ExportKind::SafetensorsPacked:
        j.update(writePacked(model, recipe, registries, out, ctx));
        j["as"] = "safetensors-packed";
        break;
    case ExportKind::Gguf: {
        const OverlayModel overlay(model, dequantizedWeights(model, recipe, registries, ctx));
        GgufExportOptions g;
        const bool perTensor = !options.ggufType;
        g.matrixType = options.ggufType.value_or(GgufType::F16);
        if (perTensor) g.perTensor = perTensorGgufTypes(model, recipe);
        writeGgufModel(overlay, out, g, ctx);
        j["as"] = "gguf";
        j["gguf_type"] = perTensor ? "per-tensor" : ggufTypeName(static_cast<std::uint32_t>(g.matrixType));
        if (perTensor) {
            nlohmann::json types = nlohmann::json::object();
            for (const auto& [name, t] : g.perTensor) types[name] = ggufTypeName(static_cast<std::uint32_t>(t));
            j["tensor_types"] = types;
        }
        break;
    }
    }
    return j;
}

} // namespace qs::core
