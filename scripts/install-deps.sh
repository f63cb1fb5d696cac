#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages QuantScope builds, tests and runs with (../shared/STACK.md).
# clang 14 (its sanitizer/libFuzzer runtimes, OpenMP, llvm-symbolizer) builds the ASan + fuzz build.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
  build-essential cmake ninja-build pkg-config qt6-base-dev qt6-base-dev-tools qt6-svg-dev \
  qt6-tools-dev libqcustomplot-dev libqcustomplot2.1-qt6 libeigen3-dev libhdf5-dev \
  libsqlite3-dev libxgboost-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev \
  libonnx-dev libprotobuf-dev protobuf-compiler xvfb xauth libgl1-mesa-dri fonts-dejavu-core \
  poppler-utils desktop-file-utils clang-14 libclang-rt-14-dev libomp-14-dev llvm-14
# A throwaway single-node Slurm for scripts/slurm-test.sh (its daemons are started by hand, not as
# services) and jq for that test's comparisons.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends slurm-wlm munge jq
# llama.cpp's own runtime for the export checks (tests/e2e/test_llamacpp.cpp): node-llama-cpp, pinned
# in tests/llamacpp's lock file, CPU build only (no CUDA/Vulkan downloads, no compile), on the
# machine's Node.js (Debian's, where it has none).
command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends nodejs npm
(cd "$(dirname "$0")/../tests/llamacpp" &&
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --no-audit --no-fund --ignore-scripts)
