// SPDX-License-Identifier: MIT
// Recipe JSON (eval/quantize --recipe): methods, formats, parameters, activation/KV specs and layer
// rules; the canonical form, the label and the rules' glob matching against a model's weight names.
#include "builtin_registries.h"
#include "fuzz_util.h"
#include "quant/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qs::core;
    return qs::fuzz::runOne([&] {
        const auto path = qs::fuzz::writeScratch("recipe.json", qs::fuzz::asView(data, size));
        const Recipe recipe = loadRecipeFile(path, qs::test::builtinRegistries());
        recipe.toJson().dump();
        recipe.label();
        recipeNeedsCalibration(recipe, qs::test::builtinRegistries());
        for (const char* name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.11.mlp.down_proj.weight",
                                 "lm_head.weight", "conv1.weight"})
            recipe.job.assignmentFor(name);
    });
}
