#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configures (once) and builds the Release tree in build/ with Ninja; incremental on later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j "$(nproc)"
