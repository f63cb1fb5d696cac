#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The .deb as a user gets it: cpack builds it from build/, its desktop entry and AppStream metadata
# validate, apt-get installs it with the dependencies it declares, and the installed quantscope-cli
# and quantscope --headless run the demo from outside the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
rm -f build/quantscope_*.deb
(cd build && cpack -G DEB >/dev/null)
deb="$PWD/$(ls build/quantscope_*.deb)"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "$deb" >/dev/null
dpkg -s quantscope | grep -E '^(Version|Depends):'
desktop-file-validate /usr/share/applications/org.quantscope.QuantScope.desktop
appstreamcli validate --no-net /usr/share/metainfo/org.quantscope.QuantScope.metainfo.xml

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
/usr/bin/quantscope-cli --version
/usr/bin/quantscope-cli eval /usr/share/quantscope/demo --data /usr/share/quantscope/demo/sample.txt \
  --windows 4 --json > eval.json
grep -q '"perplexity"' eval.json
# No model named: the installed GUI finds its own demo (<bindir>/../share/quantscope/demo).
QT_QPA_PLATFORM=offscreen /usr/bin/quantscope --headless > headless.txt
grep -qi 'perplexity' headless.txt
echo "deb-test: $(basename "$deb") installed; quantscope-cli and quantscope --headless ran the demo"
