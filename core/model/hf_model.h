// SPDX-License-Identifier: MIT
#pragma once
#include "io/safetensors.h"
#include "model/model.h"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qs::core {

/// A Hugging Face model directory: config.json plus model.safetensors, the shards listed in
/// model.safetensors.index.json, or a single other *.safetensors file. Weights stay memory-mapped.
class HfModel final : public Model {
public:
    /// Opens and validates `dir`; throws Error naming the offending file.
    static std::unique_ptr<HfModel> open(const std::filesystem::path& dir);

    const std::filesystem::path& path() const override { return m_path; }
    const ModelConfig& config() const override { return m_config; }
    const std::vector<WeightInfo>& weights() const override { return m_weights; }
    Tensor weight(const std::string& name) const override;

    /// The safetensors files holding the weights (one, or every shard), in load order.
    std::vector<std::filesystem::path> weightFiles() const;

private:
    HfModel() = default;
    void addFile(SafetensorsFile file, const std::map<std::string, std::string>* onlyNames);

    std::filesystem::path m_path;
    ModelConfig m_config;
    std::vector<SafetensorsFile> m_files;
    std::vector<WeightInfo> m_weights;
    std::map<std::string, std::size_t> m_fileOf; ///< weight name -> index into m_files
};

} // namespace qs::core
