// SPDX-License-Identifier: MIT
#include "export/hf_writer.h"

#include "io/file_util.h"
#include "io/safetensors.h"
#include "base/error.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>

namespace qs::core {
namespace fs = std::filesystem;

namespace {

const char* torchDtypeName(DType d) {
    switch (d) {
    case DType::F32:
        return "float32";
    case DType::F16:
        return "float16";
    case DType::BF16:
        return "bfloat16";
    default:
        return nullptr;
    }
}

bool isFile(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

// The replaced weights as the writer reads them: each name with its number of values (checked before
// anything is written), and a weight's values converted to the output type, one weight at a time.
struct Replaced {
    std::vector<std::pair<std::string, std::size_t>> sizes;
    std::function<std::optional<Tensor>(const std::string& name, const Shape& shape, DType dtype)> convert;
};

// Same directory however spelled (symlinks, "dir/."); a directory that does not exist yet is never the
// source.
bool sameDirectory(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    return fs::equivalent(a, b, ec) && !ec;
}

} // namespace

const std::vector<std::string>& hfAuxiliaryFiles() {
    static const std::vector<std::string> kFiles{"tokenizer.json",
                                                 "tokenizer_config.json",
                                                 "tokenizer.model",
                                                 "special_tokens_map.json",
                                                 "generation_config.json",
                                                 "vocab.json",
                                                 "merges.txt"};
    return kFiles;
}

namespace {

void writeHf(const Model& src, const Replaced& replaced, const fs::path& outDir, DType outDtype, const JobContext& job) {
    const char* torchName = torchDtypeName(outDtype);
    if (!torchName)
        throw Error(outDir.string() + ": cannot export in " + std::string(dtypeName(outDtype)) +
                    " (F32, F16 or BF16 only)");
    std::error_code ec;
    const bool srcIsDir = fs::is_directory(src.path(), ec);
    if (srcIsDir && sameDirectory(outDir, src.path()))
        throw Error(outDir.string() + ": refusing to export into the source model directory");

    // Check everything before touching the disk, so a bad call leaves no partial output.
    for (const auto& [name, size] : replaced.sizes) {
        const WeightInfo* w = src.find(name);
        if (!w)
            throw Error(outDir.string() + ": replaced tensor '" + name + "' is not a weight of the model");
        if (static_cast<std::int64_t>(size) != numel(w->shape))
            throw Error(outDir.string() + ": replaced tensor '" + name + "' has " + std::to_string(size) +
                        " values, its shape " + shapeToString(w->shape) + " needs " + std::to_string(numel(w->shape)));
    }
    // An index left there would make loaders ignore the model.safetensors written below.
    if (isFile(outDir / "model.safetensors.index.json"))
        throw Error(outDir.string() +
                    ": contains a sharded model (model.safetensors.index.json); choose an empty directory");
    fs::create_directories(outDir, ec);
    if (ec) throw Error(outDir.string() + ": cannot create directory: " + ec.message());

    const auto& weights = src.weights();
    const long long total = static_cast<long long>(weights.size());
    long long done = 0;
    std::vector<SafetensorsWriteItem> items;
    items.reserve(weights.size());
    for (const auto& w : weights) {
        items.push_back({w.name, outDtype, w.shape, [&, name = w.name, shape = w.shape]() -> Tensor {
                             job.step(done++, total, "write " + name);
                             if (std::optional<Tensor> t = replaced.convert(name, shape, outDtype)) return std::move(*t);
                             Tensor t = src.weight(name);
                             if (t.dtype() == outDtype) return t; // already in the target type: no copy
                             const std::vector<float> f = t.toFloats();
                             return convertFloats(f.data(), shape, outDtype);
                         }});
    }
    writeSafetensorsStreaming(outDir / "model.safetensors", items, {{"format", "pt"}});

    if (srcIsDir)
        for (const auto& name : hfAuxiliaryFiles())
            if (isFile(src.path() / name)) copyFileAtomically(src.path() / name, outDir / name);

    nlohmann::json config = src.config().raw;
    if (!config.is_object()) config = nlohmann::json::object();
    config["torch_dtype"] = torchName;
    if (config.contains("dtype")) config["dtype"] = torchName; // newer transformers spell it this way
    writeFileAtomically(outDir / "config.json", config.dump(2) + "\n");
    job.step(total, total, "exported " + outDir.string());
}

} // namespace

void writeHfModel(const Model& src, const std::map<std::string, std::vector<float>>& replaced,
                  const fs::path& outDir, DType outDtype, const JobContext& job) {
    Replaced r;
    for (const auto& [name, values] : replaced) r.sizes.emplace_back(name, values.size());
    r.convert = [&](const std::string& name, const Shape& shape, DType dtype) -> std::optional<Tensor> {
        const auto it = replaced.find(name);
        if (it == replaced.end()) return std::nullopt;
        return convertFloats(it->second.data(), shape, dtype);
    };
    writeHf(src, r, outDir, outDtype, job);
}

void writeHfModel(const Model& src, const HeldWeights& replaced, const fs::path& outDir, DType outDtype,
                  const JobContext& job) {
    Replaced r;
    for (const std::string& name : replaced.names()) r.sizes.emplace_back(name, replaced.size(name));
    r.convert = [&](const std::string& name, const Shape& shape, DType dtype) -> std::optional<Tensor> {
        if (!replaced.contains(name)) return std::nullopt;
        const std::vector<float> values = replaced.values(name); // one weight's float32 at a time
        return convertFloats(values.data(), shape, dtype);
    };
    writeHf(src, r, outDir, outDtype, job);
}

} // namespace qs::core
