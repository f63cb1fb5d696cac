// SPDX-License-Identifier: MIT
// The residual-stream cache behind sweeps' prefix reuse: which keys agree, what is kept and dropped,
// and that a run from a kept stream gives the forward pass's logits bit for bit.
#include "fixture_paths.h"
#include "eval/residual_cache.h"
#include "model/model.h"

#include <gtest/gtest.h>

using namespace qs::core;

namespace {

std::shared_ptr<const ResidualCache::Streams> streamsOf(std::size_t floats) {
    return std::make_shared<const ResidualCache::Streams>(1, RowMatrixF::Zero(1, static_cast<Eigen::Index>(floats)));
}

} // namespace

TEST(ResidualCache, KeysAgreeUpToTheFirstChangedLayer) {
    const auto model = openModel(qs::test::tinyLlama());
    const int layers = 4;
    std::map<std::string, std::vector<float>> replaced;
    const auto fp32 = residualKeys(*model, layers, replaced, "-|-");
    replaced["model.layers.2.mlp.down_proj.weight"] = std::vector<float>(512 * 192, 0.5f);
    const auto layer2 = residualKeys(*model, layers, replaced, "-|-");
    for (int l = 0; l <= 2; ++l) EXPECT_EQ(layer2[l], fp32[l]) << l; // layer 2's input does not see its weights
    for (int l = 3; l <= 4; ++l) EXPECT_NE(layer2[l], fp32[l]) << l;
    // The same name with other content, or the weight named unchanged (a "keep").
    auto other = replaced;
    other["model.layers.2.mlp.down_proj.weight"][7] = 0.25f;
    EXPECT_NE(residualKeys(*model, layers, other, "-|-")[3], layer2[3]);
    EXPECT_EQ(residualKeys(*model, layers, replaced, "-|-", {"model.layers.2.mlp.down_proj.weight"}), fp32);
    // Hooks and weights outside the layers (embedding, head) change every key.
    const auto hooks = residualKeys(*model, layers, {}, "{\"format\":\"int8\"}|-");
    auto head = std::map<std::string, std::vector<float>>{{"lm_head.weight", std::vector<float>(512 * 192, 1.0f)}};
    const auto headKeys = residualKeys(*model, layers, head, "-|-");
    for (int l = 0; l <= layers; ++l) {
        EXPECT_NE(hooks[l], fp32[l]);
        EXPECT_NE(headKeys[l], fp32[l]);
    }
}

TEST(ResidualCache, KeepsTheDeepestAndDropsTheLeastRecentlyUsed) {
    ResidualCache cache(3 * 1000 * sizeof(float));
    const std::vector<std::uint64_t> keys{10, 11, 12, 13};
    EXPECT_EQ(cache.deepest(keys).first, 0);
    cache.keep(11, streamsOf(1000));
    cache.keep(12, streamsOf(1000));
    EXPECT_EQ(cache.deepest(keys).first, 2);
    cache.keep(99, streamsOf(1000));
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 11}).first, 1); // 11 is now the most recent
    cache.keep(98, streamsOf(1000)); // full: drops 12, the least recently used
    EXPECT_EQ(cache.deepest(keys).first, 1);
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 99}).first, 1);
    cache.keep(97, streamsOf(4000)); // larger than the whole limit: not kept, nothing dropped
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 97}).first, 0);
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 98}).first, 1);
    // Key 0 (the embedding's output) is never looked up: a run always embeds its own tokens.
    cache.keep(50, streamsOf(10));
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{50}).first, 0);
}

TEST(ResidualCache, PinnedStreamsStayAndTakeAtMostHalf) {
    ResidualCache cache(4 * 1000 * sizeof(float));
    cache.keep(1, streamsOf(1000), true);
    cache.keep(2, streamsOf(1000), true);
    cache.keep(3, streamsOf(1000), true); // beyond half the limit: not kept
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 3}).first, 0);
    for (std::uint64_t k = 10; k < 20; ++k) cache.keep(k, streamsOf(1000)); // churn through the other half
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 1}).first, 1);
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 2}).first, 1);
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 19}).first, 1);
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 18}).first, 1);
    EXPECT_EQ(cache.deepest(std::vector<std::uint64_t>{0, 17}).first, 0); // the other half holds two
    EXPECT_EQ(cache.layersToKeep(0, 12, 1000 * sizeof(float), true), (std::vector<int>{6, 11}));
}

TEST(ResidualCache, LayersToKeepFitTheLimitAndIncludeTheDeepest) {
    const ResidualCache cache(10 * 100);
    EXPECT_EQ(cache.layersToKeep(0, 12, 100), (std::vector<int>{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
    EXPECT_EQ(cache.layersToKeep(0, 4, 100), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(cache.layersToKeep(5, 12, 400), (std::vector<int>{8, 11}));
    EXPECT_EQ(cache.layersToKeep(0, 12, 2000), std::vector<int>{});
    EXPECT_EQ(cache.layersToKeep(11, 12, 100), std::vector<int>{});
}

TEST(ResidualCache, RunningFromKeptStreamsGivesTheForwardPassesLogits) {
    const auto model = openModel(qs::test::tinyLlama());
    const CausalLm lm(*model);
    std::vector<std::vector<std::int32_t>> ids(2, std::vector<std::int32_t>(24));
    for (std::size_t w = 0; w < ids.size(); ++w)
        for (std::size_t i = 0; i < 24; ++i) ids[w][i] = static_cast<std::int32_t>((i * 37 + w * 11 + 5) % 512);
    const std::vector<std::span<const std::int32_t>> windows(ids.begin(), ids.end());
    RowMatrixF entering1[2], entering3[2];
    const std::vector<int> keep{1, 3};
    const std::vector<RowMatrixF*> kept{entering1, entering3};
    const std::vector<RowMatrixF> fromEmbedding = logitsFromLayer(lm, windows, 0, nullptr, keep, kept);
    const std::vector<RowMatrixF> from1 = logitsFromLayer(lm, windows, 1, entering1, {}, {});
    const std::vector<RowMatrixF> from3 = logitsFromLayer(lm, windows, 3, entering3, {}, {});
    for (std::size_t w = 0; w < ids.size(); ++w) {
        std::vector<RowMatrixF> hidden;
        const RowMatrixF whole = lm.forward(ids[w], &hidden);
        EXPECT_TRUE(fromEmbedding[w] == whole);
        EXPECT_TRUE(from1[w] == whole);
        EXPECT_TRUE(from3[w] == whole);
        EXPECT_TRUE(entering3[w] == hidden[3]);
    }
}
