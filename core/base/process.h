// SPDX-License-Identifier: MIT
#pragma once

namespace qs::core {

/// OpenMP's default busy-waiting slows everything when the cores are shared (13x seen with another
/// busy process). libgomp reads OMP_WAIT_POLICY once at load, before main, so when the user set no
/// policy this sets PASSIVE and re-executes the program once; it returns normally otherwise.
void ensurePassiveOpenMpWait(char** argv);

} // namespace qs::core
