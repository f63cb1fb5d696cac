// SPDX-License-Identifier: MIT
#include "base/threads.h"

#include <cstdlib>
#include <unistd.h>

namespace qs::core {

void ensurePassiveOpenMpWait(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv); // only returns on failure: then run with the default policy
}

} // namespace qs::core
