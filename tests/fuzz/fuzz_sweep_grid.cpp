// SPDX-License-Identifier: MIT
// Sweep grids (sweep --grid GRID.json): key lists expanded into their cartesian product, each point
// validated through the recipe schema. JSON syntax errors are the CLI's to report, as it does.
#include "builtin_registries.h"
#include "fuzz_util.h"
#include "experiment/sweep.h"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto grid = nlohmann::json::parse(qs::fuzz::asView(data, size), nullptr, false);
    if (grid.is_discarded()) return 0;
    return qs::fuzz::runOne([&] {
        for (const auto& point : qs::core::expandGrid(grid, qs::test::builtinRegistries()))
            if (point.recipe) point.recipe->toJson().dump();
    });
}
