// SPDX-License-Identifier: MIT
// Exports of one recipe applied to a model: the recipe itself, llama.cpp overrides, Hugging Face
// safetensors (dequantized or packed integers) and GGUF.
#pragma once
#include "quant/method_registries.h"
#include "base/job.h"
#include "quant/recipe.h"
#include "io/gguf.h"
#include "model/model.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

/// What to write.
enum class ExportKind { Recipe, LlamaOverrides, Safetensors, SafetensorsPacked, Gguf };

/// "recipe", "llama-overrides", "safetensors", "safetensors-packed", "gguf" -> kind; throws Error.
ExportKind parseExportKind(const std::string& name);

/// The export kinds' names, in parseExportKind's spelling (for menus and usage text).
const std::vector<std::string>& exportKindNames();

/// A GGUF export's matrix type from its name: "per-tensor" (nullopt: each weight in the type its
/// assignment maps to), "f16", "bf16", "q8_0", "q4_0", "q4_1"; an empty name is the default for `recipe`:
/// per-tensor when it has layer rules, F16 otherwise. Throws Error naming --gguf-type.
std::optional<GgufType> ggufTypeFromName(const std::string& name, const Recipe& recipe);

/// The GGUF type a weight assigned `a` maps to exactly, as llama-quantize spells it ("q8_0", "q4_0",
/// "q4_1", "q5_0", "q5_1", "f16", "bf16"; a kept weight its stored type "bf16", "f16" or "f32"), or
/// nullopt with `why` set. GGUF's legacy types use blocks of 32 along a row with an fp16 scale (and a
/// minimum for _1), so only INT-k group 32 (and the 16-bit casts) map; Q4_0/Q5_0 use 2^(k-1) levels
/// below zero and are nearest to the full-range grid.
std::optional<std::string> ggufTypeFor(const WeightAssignment& a, const WeightInfo& w, std::string& why);

/// Options of an export.
struct ExportOptions {
    ExportKind kind = ExportKind::Recipe;
    /// Matrix type of a GGUF export (F16, BF16, Q8_0, Q4_0, Q4_1) for every 2-D weight; unset
    /// (per-tensor): each weight of the quantization scope in the type its assignment maps to
    /// (ggufTypeFor; F16 where none does), the other matrices F16.
    std::optional<GgufType> ggufType = GgufType::F16;
};

/// Writes `recipe` applied to `model` to `out`:
///  - Recipe: the canonical recipe JSON (re-importable with `eval/quantize --recipe`).
///  - LlamaOverrides: a text file of `--tensor-type GGUF_NAME=TYPE` lines (llama-quantize), one per
///    weight of the quantization scope that maps (ggufTypeFor, per layer rule), and `# NAME: why`
///    comments for those that do not.
///  - Safetensors: a Hugging Face directory with the dequantized weights (float32) via writeHfModel.
///  - SafetensorsPacked: a directory with model.safetensors holding, for each quantized weight NAME
///    [out, in] of an INT-k assignment (tensor/channel/group; layer rules may give each its own k,
///    group and symmetry; kept weights are stored as they are):
///      NAME.qweight  uint8 [out, ceil(in/2)] for k <= 4 (column 2j in the low nibble, 2j+1 in the high
///                    one), uint8 [out, in] otherwise; codes 0..2^k-1
///      NAME.scales   float32 [out, groups] (groups = ceil(in / group size); 1 for channel and tensor)
///      NAME.zeros    uint8 [out, groups], asymmetric recipes only
///    value = scale * (code - zero), with zero = 2^(k-1) for symmetric recipes; the other weights as
///    stored; config.json copied; quantization_config.json (also in the safetensors metadata) says so,
///    with a "per_layer" entry {bits, group_size, sym} per packed weight.
///  - Gguf: a llama GGUF with the dequantized weights in options.ggufType or per-tensor types
///    (writeGgufModel); the JSON lists "tensor_types".
/// Returns a JSON description ({"as", "out", ...; for overrides "mapped"/"unmapped"}). Throws Error for
/// a recipe the export cannot express (e.g. packed integers of a non-INT format).
nlohmann::json exportRecipe(const Model& model, const Recipe& recipe, const MethodRegistries& registries,
                            const std::filesystem::path& out, const ExportOptions& options, const JobContext& ctx);

} // namespace qs::core
