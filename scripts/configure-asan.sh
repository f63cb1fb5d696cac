#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configures the one sanitizer build, build-asan: clang 14 with AddressSanitizer + UBSan and the core
# instrumented for libFuzzer (QS_FUZZ), so the ASan unit tests (scripts/test.sh) and the fuzz harnesses
# (scripts/fuzz.sh) share one compile of the core. Only the Qt-free core, CLI and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# A build-asan from before the fuzzers (g++, no QS_FUZZ) cannot be switched to clang in place.
if [ -f build-asan/CMakeCache.txt ] && ! grep -q '^QS_FUZZ:BOOL=ON' build-asan/CMakeCache.txt; then
  rm -rf build-asan
fi
if [ ! -f build-asan/build.ninja ]; then
  # -O1 without debug info keeps the build short on 2 cores; ASan still names functions.
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DQS_CORE_ONLY=ON -DQS_SANITIZE=ON -DQS_FUZZ=ON -DQS_BUILD_BENCH=OFF
fi
