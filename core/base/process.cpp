// SPDX-License-Identifier: MIT
#include "base/process.h"

#include <cstdlib>
#include <mutex>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace qs::core {

void retainFreedMemory() {
#if defined(__GLIBC__)
    static std::once_flag once;
    std::call_once(once, [] {
        // 32 MiB is glibc's largest mmap threshold (bigger values are refused); trimming only past 1 GiB free.
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    });
#endif
}

void configureProcess(char** argv) {
    bool changed = false;
    if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        changed = true;
    }
    if (!std::getenv("GLIBC_TUNABLES")) {
        setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
        changed = true;
    }
    // Once only, whatever the environment does with these values.
    if (changed && !std::getenv("QS_PROCESS_CONFIGURED")) {
        setenv("QS_PROCESS_CONFIGURED", "1", 1);
        execv("/proc/self/exe", argv); // only returns on failure: then run with the defaults
    }
    retainFreedMemory();
}

} // namespace qs::core
