#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Include graph between the folders of core/, and every include that points up a floor (exit 1 if any).
#
#   scripts/include_graph.sh        FROM -> TO counts, then the upward includes (file:line)
#   scripts/include_graph.sh --dot  the same graph as Graphviz dot (upward edges red)
set -euo pipefail
cd "$(dirname "$0")/.."

# The floors of core/, lowest first (docs/ARCHITECTURE.md). A folder may include its own floor and
# the floors below. Names of folders not created yet are fine here; a folder of core/ that is on no
# floor is an error.
FLOORS=(
  "base tensor"                              # 0 base: errors, jobs, threads, registries, parameter schemas
  "io formats tokenizer"                     # 1 readers, number formats, tokenizers
  "statistics"                               # 2 statistics: histograms, tensor stats, error metrics, X^T X
  "data"                                     # 3 data: token data, windows, calibration data
  "model onnx nn quant transform eval calib"  # 4 models, forward passes, quantizers, transforms, evaluation
  "analysis"                                 # 5 whole-model analyses
  "cost"                                     # 6 accelerator cost models, value codes, layer capture
  "store export"                             # 7 persistence (SQLite/HDF5) and model writers
  "experiment"                               # 8 running recipes and sweeps; registerBuiltins
)

dot=0
case "${1:-}" in
  --dot) dot=1 ;;
  "") ;;
  *) echo "usage: $0 [--dot]" >&2; exit 2 ;;
esac

floors=""
for i in "${!FLOORS[@]}"; do
  for f in ${FLOORS[$i]}; do floors+="$f=$i "; done
done
folders=$(find core -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' ')

# One line per quoted include of a core/ folder: core/FROM/...:LINE:#include "TO/..."
grep -rnE --include='*.h' --include='*.hpp' --include='*.cpp' --include='*.cc' \
    '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[A-Za-z0-9_]+/' core |
awk -v dot="$dot" -v floors="$floors" -v folders="$folders" '
BEGIN {
  n = split(floors, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); floor[kv[1]] = kv[2] }
  ndir = split(folders, dir, " "); for (i = 1; i <= ndir; i++) isdir[dir[i]] = 1
}
{
  file = $0; sub(/:.*/, "", file)
  line = $0; sub(/^[^:]*:/, "", line); num = line; sub(/:.*/, "", num); sub(/^[^:]*:/, "", line)
  if (split(file, p, "/") < 3) next  # a file directly in core/ belongs to no folder
  from = p[2]
  to = line; sub(/^[^"]*"/, "", to); sub(/\/.*/, "", to)
  if (!(to in isdir) || to == from) next
  count[from " -> " to]++; src[from " -> " to] = from; dst[from " -> " to] = to
  if ((from in floor) && (to in floor) && floor[to] > floor[from]) {
    up[++nup] = sprintf("%s:%s  %s  (floor %d -> %d)", file, num, line, floor[from], floor[to])
    upedge[from " -> " to] = 1
  }
}
END {
  for (i = 1; i <= ndir; i++) if (!(dir[i] in floor)) missing = missing " core/" dir[i]
  cmd = "sort"  # each sorted block: flush first so that lines keep their order
  if (dot) {
    print "digraph core {\n  node [shape=box];  // includer above included: base at the bottom"
    for (i = 1; i <= ndir; i++) { r = (dir[i] in floor) ? floor[dir[i]] : 99; rank[r] = rank[r] " \"" dir[i] "\";" }
    fflush(); for (r in rank) print "  { rank=same;" rank[r] " }" | cmd; close(cmd)
    fflush(); for (e in count)
      printf "  \"%s\" -> \"%s\" [label=%d%s];\n", src[e], dst[e], count[e], (e in upedge) ? ", color=red, fontcolor=red" : "" | cmd
    close(cmd); print "}"
  } else {
    print "# include graph of core/: FROM -> TO = #include \"TO/...\" lines in core/FROM/"
    fflush(); for (e in count) printf "%-24s %4d\n", e, count[e] | cmd; close(cmd)
    printf "\n# includes that point up a floor (floors in scripts/include_graph.sh): %d\n", nup
    fflush(); for (i = 1; i <= nup; i++) print up[i] | cmd; close(cmd)
  }
  if (missing != "") print "include_graph: on no floor:" missing > "/dev/stderr"
  exit (nup > 0 || missing != "") ? 1 : 0
}'
