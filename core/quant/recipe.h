// SPDX-License-Identifier: MIT
#pragma once
#include "quant/method_registries.h"
#include "quant/model_quantizer.h"
#include "quant/quant_spec.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace qs::core {

/// A whole recipe: an optional weight quantization (QuantJob) plus optional activation and KV-cache
/// fake quantization. Its JSON is QuantJob::toJson()'s shape — {method, method_params, format,
/// granularity, group, sym, scale, percentile, full_range} — plus optional "activation" / "kv_cache"
/// objects of QuantSpec::toJson()'s shape. `{}` is the unquantized (fp32) model.
struct Recipe {
    bool quantizeWeights = false;
    QuantJob job;
    std::optional<QuantSpec> activation;
    std::optional<QuantSpec> kvCache;

    /// True for the fp32 reference (nothing quantized).
    bool isReference() const { return !quantizeWeights && !activation && !kvCache; }
    /// Canonical JSON: every key present with defaults filled, fields that do not act on the result
    /// normalised (group outside group granularity, percentile outside the percentile rule), keys
    /// sorted — two recipes that quantize the same way give the same text (the store's unique key).
    nlohmann::json toJson() const;
    /// toJson().dump(): the text stored and compared.
    std::string canonical() const { return toJson().dump(); }
    /// "rtn int4 asym group 32 + act int8 sym token", or "fp32".
    std::string label() const;
};

/// True when running the recipe uses calibration data (a calibrated weight method; model transforms
/// that read activation statistics must answer here too). Sweeps and the GUI key runs by it, so a
/// data-free recipe gets the same key with or without calibration data at hand.
bool recipeNeedsCalibration(const Recipe& recipe, const MethodRegistries& registries);

/// Builds and validates a recipe from JSON (see Recipe). Unknown keys, unknown methods or formats and
/// bad values throw Error prefixed by `owner` (e.g. the file name).
Recipe recipeFromJson(const nlohmann::json& j, const MethodRegistries& registries, const std::string& owner = "recipe");

/// The one gate from flat keys to a recipe: grid points (the GUI's Sweep dialog too) and command-line flags give
/// {"method": "rotate+gptq", "format", "granularity", "group", "sym" | "asym", "scale", "percentile",
/// "full_range", any method or transform parameter, "act_quant"/"kv_quant": "int8:token",
/// "layer": "GLOB=SPEC" | rule object | [those...], "calib", "calib_windows" (eval settings, ignored)};
/// dashes and underscores are the same key. Validated through recipeFromJson; a granularity a
/// fixed-block format cannot take is an error. Throws Error prefixed by `owner`.
Recipe recipeFromFlatKeys(const nlohmann::json& values, const MethodRegistries& registries, const std::string& owner);

/// Reads a recipe file; errors name the file.
Recipe loadRecipeFile(const std::filesystem::path& path, const MethodRegistries& registries);

/// The JSON of a recipe file as written (rules as given, so more can be added before recipeFromJson,
/// which validates it; pass the file name as its owner). Errors name the file.
nlohmann::json loadRecipeJson(const std::filesystem::path& path);

/// Writes the canonical recipe (pretty-printed) atomically.
void saveRecipeFile(const std::filesystem::path& path, const Recipe& recipe);

/// An activation / KV-cache spec from the command-line form
/// FORMAT[:token|tensor|channel|group|block][:N][:sym|asym][:pNN.N] (specKeysFromString, the one parser
/// of activation, KV and layer specs). Granularity defaults to `defaultGranularity`: token for a
/// language model's activations and KV cache (one scale per token), tensor for a classifier's static
/// activation scales. pNN.N clips each scale's run to the NN.N-th percentile (ScaleRule::Percentile).
/// Throws Error prefixed by `flag`.
QuantSpec hookSpecFromString(const std::string& text, const std::string& flag,
                             Granularity defaultGranularity = Granularity::Token);


/// The text of `spec` in hookSpecFromString's syntax ("int8:token:sym", "int4:group:32:asym:p99.9"): what the
/// GUI's activation / KV fields show for a stored recipe. The MSE scale rule and full-range INT have no
/// spelling there and are left out (a caller that must be exact compares the parsed result).
std::string hookSpecText(const QuantSpec& spec);

} // namespace qs::core
