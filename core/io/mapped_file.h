// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>

namespace qs::core {

/// A read-only memory map of a whole file. Tensors viewing it hold a shared_ptr to keep it mapped.
class MappedFile {
public:
    /// Maps `path`; throws Error naming the file when it cannot be opened or mapped.
    static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return m_data; }
    std::size_t size() const { return m_size; }
    const std::filesystem::path& path() const { return m_path; }

    /// Tells the kernel that the pages of [p, p + n) are not needed now (madvise MADV_DONTNEED):
    /// they leave this process's resident set and are read back from the file (usually the page
    /// cache) on the next access, so one pass over a large model does not keep all of it resident.
    /// Only pages inside a live MappedFile are touched (whole pages, which may extend a little
    /// beyond the range); memory outside every mapping (e.g. a tensor converted into its own
    /// buffer) is left alone.
    static void adviseNotNeeded(const void* p, std::size_t n);

private:
    MappedFile() = default;
    std::filesystem::path m_path;
    const std::byte* m_data = nullptr;
    std::size_t m_size = 0;
};

} // namespace qs::core
