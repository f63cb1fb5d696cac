// SPDX-License-Identifier: MIT
#include "io/mapped_file.h"

#include "base/error.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace qs::core {
namespace {

// Closes the descriptor on every exit path; the mapping outlives it (POSIX allows closing after mmap).
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what, int err) {
    throw Error(path.string() + ": " + what + ": " + std::strerror(err));
}

// Live mappings (start -> size), so that adviseNotNeeded never discards memory it does not map.
std::mutex g_mappingsMutex;
std::map<const std::byte*, std::size_t> g_mappings;

} // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) fail(path, "cannot open", errno);
    FdGuard guard{fd};

    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(path, "cannot stat", errno);
    if (!S_ISREG(st.st_mode)) throw Error(path.string() + ": not a regular file");

    std::shared_ptr<MappedFile> file(new MappedFile());
    file->m_path = path;
    file->m_size = static_cast<std::size_t>(st.st_size);
    if (file->m_size == 0) return file; // mmap of length 0 is an error; an empty file is simply empty

    void* p = ::mmap(nullptr, file->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) fail(path, "cannot map " + std::to_string(file->m_size) + " bytes", errno);
    file->m_data = static_cast<const std::byte*>(p);
    const std::lock_guard lock(g_mappingsMutex);
    g_mappings[file->m_data] = file->m_size;
    return file;
}

MappedFile::~MappedFile() {
    if (!m_data) return;
    {
        const std::lock_guard lock(g_mappingsMutex);
        g_mappings.erase(m_data);
    }
    ::munmap(const_cast<std::byte*>(m_data), m_size);
}

void MappedFile::adviseNotNeeded(const void* p, std::size_t n) {
    if (!p || n == 0) return;
    const auto* begin = static_cast<const std::byte*>(p);
    const std::lock_guard lock(g_mappingsMutex); // the mapping stays alive while advising
    auto it = g_mappings.upper_bound(begin);
    if (it == g_mappings.begin()) return;
    --it;
    const std::byte* mapStart = it->first;
    const std::byte* mapEnd = mapStart + it->second;
    if (begin >= mapEnd || n > static_cast<std::size_t>(mapEnd - begin)) return;
    // Whole pages: mmap returns a page-aligned start, so rounding stays inside the mapping.
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto from = reinterpret_cast<std::uintptr_t>(begin) / page * page;
    const auto to = std::min((reinterpret_cast<std::uintptr_t>(begin + n) + page - 1) / page * page,
                             reinterpret_cast<std::uintptr_t>(mapEnd));
    // Read-only private pages are never dirty: dropping them loses nothing. Advice only: errors ignored.
    ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

} // namespace qs::core
