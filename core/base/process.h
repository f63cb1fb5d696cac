// SPDX-License-Identifier: MIT
#pragma once

namespace qs::core {

/// What every QuantScope program sets up first, before any thread starts (the CLI, the GUI, the benches):
/// OpenMP threads that wait passively, and freed memory kept in the heap (retainFreedMemory).
///
/// OpenMP's default busy-waiting slows everything when the cores are shared (13x seen with another
/// busy process). libgomp reads OMP_WAIT_POLICY once at load, before main, so when the user set no
/// policy this sets PASSIVE and re-executes the program once; it returns normally otherwise.
void configureProcess(char** argv);

/// Keeps freed memory in the process heap instead of handing it back to the kernel. The forward
/// pass and GPTQ allocate and free matrices of 0.1-30 MB many times; by default glibc maps each one
/// fresh (above its mmap threshold) and trims the heap after, so every use pays page faults on the
/// whole matrix (measured: a third to half of a fixture evaluation's time). Peak memory is
/// unchanged: only what was in use before is kept. Idempotent, thread-safe; also called by the
/// engine's heavy entry points, for programs that did not call configureProcess.
void retainFreedMemory();

} // namespace qs::core
