// SPDX-License-Identifier: MIT
#pragma once

namespace qs::core {

/// What every QuantScope program sets up first, before any thread starts (the CLI, the GUI, the benches):
/// OpenMP threads that wait passively, big allocations on transparent huge pages, and freed memory kept
/// in the heap (retainFreedMemory).
///
/// OpenMP's default busy-waiting slows everything when the cores are shared (13x seen with another
/// busy process). A fresh 64 MB matrix costs 16k page faults on 4 KiB pages, 32 on 2 MiB ones (GPTQ
/// on 4096 x 4096: 4.7 -> 3.2 s; loading a 0.85B model: 18.5 -> 13.9 s). libgomp and glibc read their
/// settings (OMP_WAIT_POLICY; GLIBC_TUNABLES glibc.malloc.hugetlb=1) once at load, before main, so
/// when the user set neither this sets what is missing and re-executes the program once; it returns
/// normally otherwise.
void configureProcess(char** argv);

/// Keeps freed memory in the process heap instead of handing it back to the kernel. The forward
/// pass and GPTQ allocate and free matrices of 0.1-30 MB many times; by default glibc maps each one
/// fresh (above its mmap threshold) and trims the heap after, so every use pays page faults on the
/// whole matrix (measured: a third to half of a fixture evaluation's time). Peak memory is
/// unchanged: only what was in use before is kept. Idempotent, thread-safe; also called by the
/// engine's heavy entry points, for programs that did not call configureProcess.
void retainFreedMemory();

} // namespace qs::core
