// SPDX-License-Identifier: MIT
// What every harness shares: one scratch file per process (readers that take a path get the bytes
// there, rewritten each input instead of a new file per run) and the verdict on what a reader threw.
#pragma once
#include "base/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>

namespace qs::fuzz {

/// A directory of this process's own under the system temp dir, removed at exit.
inline const std::filesystem::path& scratchDir() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("qs-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(scratchDir(), ec);
        });
        return d;
    }();
    return dir;
}

/// Writes `bytes` to scratchDir()/name (replacing it) and returns the path.
inline std::filesystem::path writeScratch(const std::string& name, std::string_view bytes) {
    const auto path = scratchDir() / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
        std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
        std::abort();
    }
    return path;
}

inline std::string_view asView(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Runs `body` on one input. A qs::core::Error (a clear message naming the file) is the correct
/// answer to bad bytes; any other exception escaped a reader without saying where and what, so it
/// aborts and the fuzzer keeps the input, as it does for a crash.
template <class Body> int runOne(Body&& body) {
    try {
        body();
    } catch (const core::Error& e) {
        // QS_FUZZ_VERBOSE=1 shows what each input was refused with (is a seed still valid?).
        static const bool verbose = std::getenv("QS_FUZZ_VERBOSE") != nullptr;
        if (verbose) std::fprintf(stderr, "  Error: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz: uncaught non-Error exception: %s\n", e.what());
        std::abort();
    }
    return 0;
}

} // namespace qs::fuzz
