// SPDX-License-Identifier: MIT
// model.safetensors.index.json: the weight map of a sharded Hugging Face model, opened beside a fixed
// config.json and two small shards, so shard names, missing tensors and paths that leave the
// directory are all reached.
#include "fuzz_util.h"
#include "io/safetensors.h"
#include "model/hf_model.h"

#include <span>
#include <vector>

namespace {

constexpr const char* kConfig = R"({"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 4,
  "max_position_embeddings": 16, "rms_norm_eps": 1e-5, "tie_word_embeddings": true})";

// The model directory, made once per process: config.json and two shards of a few tiny tensors.
const std::filesystem::path& modelDir() {
    static const std::filesystem::path dir = [] {
        const auto d = qs::fuzz::scratchDir() / "model";
        std::filesystem::create_directories(d);
        qs::fuzz::writeScratch("model/config.json", kConfig);
        const std::vector<float> v(64, 0.5f);
        const auto t = [&](qs::core::Shape s) { 
            return qs::core::Tensor::fromFloats(s, {v.data(), static_cast<std::size_t>(qs::core::numel(s))});
        };
        qs::core::writeSafetensors(d / "model-00001-of-00002.safetensors",
                                   {{"model.embed_tokens.weight", t({4, 8})}, {"model.norm.weight", t({8})}});
        qs::core::writeSafetensors(d / "model-00002-of-00002.safetensors",
                                   {{"model.layers.0.self_attn.q_proj.weight", t({8, 8})},
                                    {"model.layers.0.input_layernorm.weight", t({8})}});
        return d;
    }();
    return dir;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& dir = modelDir();
    return qs::fuzz::runOne([&] {
        qs::fuzz::writeScratch("model/model.safetensors.index.json", qs::fuzz::asView(data, size));
        const auto model = qs::core::HfModel::open(dir);
        for (const auto& w : model->weights()) model->weightAsOutIn(w);
    });
}
