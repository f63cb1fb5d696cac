// SPDX-License-Identifier: MIT
#include "export/gguf_writer.h"

#include "export/gguf_tokenizer_metadata.h"
#include "model/gguf_model.h"
#include "base/error.h"

#include <cstring>

namespace qs::core {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& problem) {
    throw Error(path.string() + ": " + problem);
}

// llama.cpp's general.file_type (LLAMA_FTYPE_*) for the dominant matrix type.
std::uint32_t fileType(GgufType t) {
    switch (t) {
    case GgufType::F32:
        return 0;
    case GgufType::F16:
        return 1;
    case GgufType::Q4_0:
        return 2;
    case GgufType::Q8_0:
        return 7;
    case GgufType::BF16:
        return 32;
    default:
        return 1;
    }
}

// The model types whose rows name a GGUF architecture, for the refusal message.
std::string ggufModelTypes() {
    std::string s;
    for (const auto& row : architectureTable())
        if (!row.ggufArch.empty()) s += (s.empty() ? "" : ", ") + std::string(row.modelType);
    return s;
}

} // namespace

void writeGgufModel(const Model& src, const fs::path& path, const GgufExportOptions& options,
                    const JobContext& job) {
    const ModelConfig& c = src.config();
    const ArchitectureTraits& row = architectureTraits(c.arch);
    if (row.ggufArch.empty())
        fail(path, "GGUF export supports llama-family models only (" + ggufModelTypes() + "), not '" +
                       c.modelType + "'");
    // Metadata keys are "<architecture>.<key>"; tensor names follow llama's (hfToGgufName).
    const std::string a(row.ggufArch);
    const auto* mt = ggufTypeTraits(static_cast<std::uint32_t>(options.matrixType));
    if (!mt || !mt->quantize)
        fail(path,
             "cannot write matrices as " + ggufTypeName(static_cast<std::uint32_t>(options.matrixType)));
    for (const auto& [name, type] : options.perTensor)
        if (!src.find(name))
            fail(path, "type override for '" + name + "', which is not a weight of the model");

    std::vector<GgufKv> kvs{
        {"general.architecture", GgufValue::ofString(a)},
        {"general.name", GgufValue::ofString(src.path().filename().string())},
        {"general.file_type", GgufValue::ofU32(fileType(options.matrixType))},
        {a + ".context_length", GgufValue::ofU32(static_cast<std::uint32_t>(c.maxPositions))},
        {a + ".embedding_length", GgufValue::ofU32(static_cast<std::uint32_t>(c.hiddenSize))},
        {a + ".block_count", GgufValue::ofU32(static_cast<std::uint32_t>(c.numLayers))},
        {a + ".feed_forward_length", GgufValue::ofU32(static_cast<std::uint32_t>(c.intermediateSize))},
        {a + ".rope.dimension_count", GgufValue::ofU32(static_cast<std::uint32_t>(c.headDim))},
        {a + ".attention.head_count", GgufValue::ofU32(static_cast<std::uint32_t>(c.numHeads))},
        {a + ".attention.head_count_kv", GgufValue::ofU32(static_cast<std::uint32_t>(c.numKvHeads))},
        {a + ".attention.key_length", GgufValue::ofU32(static_cast<std::uint32_t>(c.headDim))},
        {a + ".attention.value_length", GgufValue::ofU32(static_cast<std::uint32_t>(c.headDim))},
        {a + ".attention.layer_norm_rms_epsilon", GgufValue::ofF32(static_cast<float>(c.rmsNormEps))},
        {a + ".rope.freq_base", GgufValue::ofF32(static_cast<float>(c.ropeTheta))},
        {a + ".vocab_size", GgufValue::ofU32(static_cast<std::uint32_t>(c.vocabSize))},
    };

    const auto& weights = src.weights();
    const long long total = static_cast<long long>(weights.size());
    long long done = 0;
    std::vector<GgufWriteItem> items;
    for (const auto& w : weights) {
        const auto gname = hfToGgufName(w.name);
        if (!gname) fail(path, "weight '" + w.name + "' has no llama GGUF name");
        GgufType type = GgufType::F32;
        if (const auto it = options.perTensor.find(w.name); it != options.perTensor.end()) {
            type = it->second;
        } else if (w.shape.size() >= 2) {
            type = w.shape.back() % mt->blockSize == 0 ? options.matrixType : GgufType::F16;
        }
        int nHead = 0;
        if (w.name.ends_with(".self_attn.q_proj.weight")) nHead = c.numHeads;
        if (w.name.ends_with(".self_attn.k_proj.weight")) nHead = c.numKvHeads;
        if (nHead && (w.shape.size() != 2 || w.shape[0] % (2 * nHead) != 0))
            fail(path, "weight '" + w.name + "' has shape " + shapeToString(w.shape) +
                           ", rows must split into " + std::to_string(nHead) + " heads of even size");
        items.push_back({*gname, type, w.shape, [&, info = w, nHead]() {
                             job.step(done++, total, "write " + info.name);
                             std::vector<float> v = src.weightAsOutIn(info);
                             if (!nHead) return v;
                             std::vector<float> p(v.size());
                             const auto rows = info.shape[0];
                             permuteRopeRows(reinterpret_cast<const std::byte*>(v.data()),
                                             reinterpret_cast<std::byte*>(p.data()), rows,
                                             static_cast<std::size_t>(info.shape[1]) * sizeof(float), nHead,
                                             true);
                             return p;
                         }});
    }
    // The tokenizer travels with the weights (llama.cpp refuses a model without one).
    if (std::filesystem::is_directory(src.path()))
        for (auto& kv : ggufTokenizerMetadata(src.path())) kvs.push_back(std::move(kv));
    writeGguf(path, kvs, items);
    job.step(total, total, "exported " + path.string());
}

} // namespace qs::core
