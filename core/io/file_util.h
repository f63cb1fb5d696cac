// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace qs::core {

/// Writes a file so that readers only ever see the old content or the complete new one: bytes go to a
/// hidden temporary file beside `path` and commit() renames it over `path`. Without commit() (an
/// exception, a cancelled job) the destructor removes the temporary file. Errors throw Error naming `path`.
class AtomicFileWriter {
public:
    /// Creates the temporary file next to `path` (the directory must exist).
    explicit AtomicFileWriter(std::filesystem::path path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    /// Appends `size` bytes.
    void write(const void* data, std::size_t size);
    /// Appends a string's bytes.
    void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
    /// Closes the temporary file and renames it to the final path.
    void commit();
    /// The final path.
    const std::filesystem::path& path() const { return m_path; }

private:
    void discard() noexcept;

    std::filesystem::path m_path;
    std::filesystem::path m_tempPath;
    int m_fd = -1;
    bool m_committed = false;
};

/// Writes `bytes` to `path` atomically (temp file + rename).
void writeFileAtomically(const std::filesystem::path& path, std::string_view bytes);

/// Copies `from` to `to` atomically (temp file + rename). Throws Error naming the failing file.
void copyFileAtomically(const std::filesystem::path& from, const std::filesystem::path& to);

/// Reads a whole (small) file; throws Error naming it when it cannot be read.
std::string readWholeFile(const std::filesystem::path& path);

} // namespace qs::core
