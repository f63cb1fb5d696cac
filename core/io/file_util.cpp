// SPDX-License-Identifier: MIT
#include "io/file_util.h"

#include "io/mapped_file.h"
#include "base/error.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace qs::core {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what, int err) {
    throw Error(path.string() + ": " + what + ": " + std::strerror(err));
}

// Unique per process and call, so concurrent writers (threads, processes) never share a temp file.
std::filesystem::path tempPathFor(const std::filesystem::path& path) {
    static std::atomic<unsigned long> counter{0};
    std::string name = ".";
    name += path.filename().string();
    name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    return path.parent_path() / name;
}

} // namespace

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path) : m_path(std::move(path)) {
    if (m_path.filename().empty()) throw Error(m_path.string() + ": not a file path");
    m_tempPath = tempPathFor(m_path);
    do {
        m_fd = ::open(m_tempPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    } while (m_fd < 0 && errno == EINTR);
    if (m_fd < 0) fail(m_path, "cannot create file", errno);
}

AtomicFileWriter::~AtomicFileWriter() {
    if (!m_committed) discard();
}

void AtomicFileWriter::discard() noexcept {
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (!m_tempPath.empty()) ::unlink(m_tempPath.c_str());
}

void AtomicFileWriter::write(const void* data, std::size_t size) {
    if (m_fd < 0) throw Error(m_path.string() + ": write after commit");
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        // Large writes may be split by the kernel (and are capped near 2 GiB on Linux): loop.
        const ssize_t n = ::write(m_fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(m_path, "write failed", errno);
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

void AtomicFileWriter::commit() {
    if (m_fd < 0) throw Error(m_path.string() + ": commit twice");
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) fail(m_path, "close failed", errno); // delayed write errors show up here
    if (::rename(m_tempPath.c_str(), m_path.c_str()) != 0)
        fail(m_path, "cannot rename temporary file", errno);
    m_committed = true;
}

void writeFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
    AtomicFileWriter w(path);
    w.write(bytes);
    w.commit();
}

void copyFileAtomically(const std::filesystem::path& from, const std::filesystem::path& to) {
    const auto src = MappedFile::open(from);
    AtomicFileWriter w(to);
    if (src->size() > 0) w.write(src->data(), src->size());
    w.commit();
}

std::string readWholeFile(const std::filesystem::path& path) {
    const auto f = MappedFile::open(path);
    return f->size() ? std::string(reinterpret_cast<const char*>(f->data()), f->size()) : std::string();
}

} // namespace qs::core
