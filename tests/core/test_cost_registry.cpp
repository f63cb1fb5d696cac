// SPDX-License-Identifier: MIT
// Every registered cost model, the day it is added: its defaults validate, its flags never shadow a
// quantization flag of the same command, and it prices a small conv and FC layer with the output
// contract (finite cycles, or a stated reason), deterministically.
#include "cost_test_layers.h"
#include "builtin_registries.h"

#include "quant/quant_spec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

using namespace qs::core;

namespace {

const Registries& registries() { return qs::test::builtinRegistries(); }

// Every flag `quantscope-cli cost` takes besides a cost model's own.
std::set<std::string> commandFlags() {
    std::set<std::string> names = {"model", "run",    "project", "calib",    "ctx",      "windows", "native_bits",
                                   "recipe", "method", "layer",   "act_quant", "kv_quant", "json",    "threads", "asym"};
    for (const ParamSpec& p : quantSpecSchema()) names.insert(p.name);
    for (const Quantizer* q : registries().quantizers.all())
        for (const ParamSpec& p : q->params()) names.insert(p.name);
    for (const ModelTransform* t : registries().transforms.all())
        for (const ParamSpec& p : t->params()) names.insert(p.name);
    return names;
}

std::int32_t bell(std::int64_t i, int range) { // a spread of small and large codes, both signs
    const std::int64_t h = (i * 2654435761LL) % 1009;
    return static_cast<std::int32_t>((h * h) % (2 * range + 1) - range) / (1 + static_cast<std::int32_t>(h % 4));
}

} // namespace

TEST(CostRegistry, EveryModelIsUsableWithItsDefaults) {
    const std::set<std::string> taken = commandFlags();
    const std::vector<const CostModel*> models = registries().costModels.all();
    ASSERT_EQ(models.size(), 10u);
    qs::test::ConvSpec spec;
    spec.C = 24, spec.F = 40, spec.NX = spec.NY = 7, spec.pad = 1, spec.activationBits = 8, spec.weightBits = 4;
    const CostLayer conv = qs::test::makeConvLayer(
        spec, [](std::int64_t i) { return std::abs(bell(i, 127)); }, [](std::int64_t i) { return bell(i, 7); });
    CostLayer fc = qs::test::makeFcLayer(
        40, 24, 20, 8, 4, [](std::int64_t i) { return bell(i + 5, 127); }, [](std::int64_t i) { return bell(i, 7); });
    fc.activations.isSigned = true;
    for (const CostModel* m : models) {
        SCOPED_TRACE(std::string(m->name()));
        EXPECT_FALSE(m->summary().empty());
        for (const ParamSpec& p : m->params()) EXPECT_EQ(taken.count(p.name), 0u) << "--" << p.name << " is taken";
        const nlohmann::json params = validateParams(m->params(), nlohmann::json::object(), "test");
        for (const CostLayer* layer : std::vector<const CostLayer*>{&conv, &fc}) {
            const LayerCost a = m->layer(*layer, params), b = m->layer(*layer, params);
            const nlohmann::json j = a.toJson();
            for (const char* key : {"name", "baseline_cycles", "cycles", "speedup", "potential_speedup", "energy"})
                EXPECT_TRUE(j.contains(key)) << key;
            EXPECT_EQ(j.dump(), b.toJson().dump()); // deterministic
            EXPECT_GT(a.baselineCycles, 0);
            if (!std::isfinite(a.cycles)) EXPECT_EQ(j.value("priced", true), false) << j.dump(); // said, not silent
            else EXPECT_GT(a.cycles, 0);
        }
    }
}
