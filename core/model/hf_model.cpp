// SPDX-License-Identifier: MIT
#include "model/hf_model.h"

#include "io/file_util.h"
#include "base/error.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace qs::core {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& problem) {
    throw Error(path.string() + ": " + problem);
}

bool isFile(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

// weight_map of model.safetensors.index.json: tensor name -> shard file name, validated.
std::map<std::string, std::string> readWeightMap(const fs::path& indexPath) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(readWholeFile(indexPath));
    } catch (const nlohmann::json::exception& e) {
        fail(indexPath, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) fail(indexPath, "not a JSON object");
    const auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object()) fail(indexPath, "missing 'weight_map' object");
    if (wm->empty()) fail(indexPath, "'weight_map' is empty");
    std::map<std::string, std::string> out;
    for (const auto& [name, file] : wm->items()) {
        if (!file.is_string()) fail(indexPath, "weight_map entry '" + name + "' is not a string");
        const fs::path shard(file.get<std::string>());
        // Shards live in the model directory; a path that leaves it is a broken or hostile index.
        const bool escapes =
            shard.empty() || shard.is_absolute() ||
            std::any_of(shard.begin(), shard.end(), [](const fs::path& c) { return c == ".."; });
        if (escapes)
            fail(indexPath, "weight_map entry '" + name + "' names shard '" + shard.string() +
                                "' outside the model directory");
        out.emplace(name, shard.string());
    }
    return out;
}

} // namespace

std::unique_ptr<HfModel> HfModel::open(const fs::path& dir) {
    std::unique_ptr<HfModel> m(new HfModel());
    m->m_path = dir;
    const fs::path configPath = dir / "config.json";
    if (!isFile(configPath)) fail(dir, "not a Hugging Face model directory: config.json is missing");
    m->m_config = ModelConfig::fromFile(configPath);

    const fs::path indexPath = dir / "model.safetensors.index.json";
    if (isFile(indexPath)) {
        const auto weightMap = readWeightMap(indexPath);
        std::map<std::string, std::map<std::string, std::string>> byShard; // shard -> its names
        for (const auto& [name, shard] : weightMap)
            byShard[shard].emplace(name, shard);
        for (const auto& [shard, names] : byShard) {
            const fs::path shardPath = dir / shard;
            if (!isFile(shardPath))
                fail(indexPath, "shard '" + shard + "' (holding '" + names.begin()->first + "') not found");
            SafetensorsFile f = SafetensorsFile::open(shardPath);
            for (const auto& [name, _] : names)
                if (!f.find(name))
                    fail(shardPath,
                         "tensor '" + name +
                             "' listed in model.safetensors.index.json is missing from this shard");
            m->addFile(std::move(f), &names);
        }
        return m;
    }

    fs::path single = dir / "model.safetensors";
    if (!isFile(single)) {
        std::vector<fs::path> found;
        try {
            for (const auto& e : fs::directory_iterator(dir)) {
                const std::string fname = e.path().filename().string();
                // Hidden files are skipped: they include our own in-progress temporary files.
                if (e.path().extension() == ".safetensors" && !fname.starts_with(".") && isFile(e.path()))
                    found.push_back(e.path());
            }
        } catch (const fs::filesystem_error& e) {
            fail(dir, std::string("cannot list directory: ") + e.code().message());
        }
        if (found.empty())
            fail(dir, "no model.safetensors (and no other .safetensors file) in the model directory");
        if (found.size() > 1) {
            std::sort(found.begin(), found.end());
            std::string names;
            for (const auto& f : found)
                names += (names.empty() ? "" : ", ") + f.filename().string();
            fail(dir, "several .safetensors files (" + names + ") but no model.safetensors.index.json");
        }
        single = found.front();
    }
    m->addFile(SafetensorsFile::open(single), nullptr);
    return m;
}

void HfModel::addFile(SafetensorsFile file, const std::map<std::string, std::string>* onlyNames) {
    const std::size_t index = m_files.size();
    for (const auto& e : file.entries()) {
        // In a sharded model the index decides which shard owns a name; unlisted extras are ignored.
        if (onlyNames && !onlyNames->count(e.name)) continue;
        if (!m_fileOf.emplace(e.name, index).second) fail(file.path(), "duplicate weight '" + e.name + "'");
        m_weights.push_back(classifyWeight(m_config.arch, e.name, e.dtype, e.shape));
    }
    m_files.push_back(std::move(file));
}

Tensor HfModel::weight(const std::string& name) const {
    const auto it = m_fileOf.find(name);
    if (it == m_fileOf.end()) fail(m_path, "no weight named '" + name + "'");
    return m_files[it->second].tensor(name);
}

std::vector<fs::path> HfModel::weightFiles() const {
    std::vector<fs::path> out;
    for (const auto& f : m_files)
        out.push_back(f.path());
    return out;
}

} // namespace qs::core
