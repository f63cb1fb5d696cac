#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one set-up command: installs the Debian packages, builds (Release, Ninja) and runs the main
# job on the embedded demo model: the GUI where a display exists, a terminal report otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "${1:-}" != "--headless" ]; then
  exec build/bin/quantscope resources/demo
else
  exec build/bin/quantscope --headless resources/demo
fi
