// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/tensor.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qs::core {

class MappedFile;

/// Where one tensor lives in a safetensors file.
struct SafetensorsEntry {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    std::uint64_t begin = 0; ///< byte offset into the data section
    std::uint64_t end = 0;
};

/// One memory-mapped .safetensors file with a fully validated header: header size limit (100 MB),
/// valid UTF-8 JSON object, known dtypes, non-negative shapes, offsets inside the file, byte size =
/// numel * dtype size, no overlaps. Every violation throws Error naming the file and the problem.
class SafetensorsFile {
public:
    static SafetensorsFile open(const std::filesystem::path& path);

    const std::filesystem::path& path() const;
    const std::vector<SafetensorsEntry>& entries() const { return m_entries; }
    const std::map<std::string, std::string>& metadata() const { return m_metadata; }
    /// Entry by name, nullptr when absent.
    const SafetensorsEntry* find(const std::string& name) const;
    /// Zero-copy view of a tensor (keeps the file mapped). Throws Error when absent.
    Tensor tensor(const std::string& name) const;

private:
    std::shared_ptr<const MappedFile> m_file;
    std::uint64_t m_dataStart = 0;
    std::vector<SafetensorsEntry> m_entries;
    std::map<std::string, std::size_t> m_index;
    std::map<std::string, std::string> m_metadata;
};

/// Writes tensors (in the given dtypes, sorted by name as the reference writer does) to `path`.
/// Writes to a temporary file beside it and renames, so a killed job never leaves half a file.
void writeSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

/// One tensor to write whose data is produced on demand, so a large model is written one tensor at a
/// time instead of holding every converted tensor in memory.
struct SafetensorsWriteItem {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    /// Called exactly once, in write order; must return a tensor of `dtype` and `shape`.
    std::function<Tensor()> produce;
};

/// Same as writeSafetensors with lazily produced data (sorted by name; duplicate names throw Error).
void writeSafetensorsStreaming(const std::filesystem::path& path,
                               const std::vector<SafetensorsWriteItem>& items,
                               const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

/// Converts a float32 buffer to a tensor of `dtype` (F32, F16 or BF16; round-to-nearest-even).
Tensor convertFloats(const float* values, const Shape& shape, DType dtype);

} // namespace qs::core
