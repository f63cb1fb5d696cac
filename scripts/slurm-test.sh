#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Slurm path end to end on a real single-node Slurm (scripts/slurm-local.sh): a 4-task array of
# `sweep --shard I/4` over the fixture model (packaging/slurm/submit_sweep.sh), the dependent merge
# job, and the merged project compared with a single-process sweep of the same grid, run for run:
# the same recipes and eval settings, every metric and every layer row bit for bit. Fails (never
# skips) when Slurm, munge or jq are missing. Daemons are stopped and the temporary folder removed
# on exit (QS_KEEP_SLURM_TEST=1 keeps the folder).
#   scripts/slurm-test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
export LC_ALL=C # sort and join agree on order
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-build}
cli=$root/$build/bin/quantscope-cli
[ -x "$cli" ] || { echo "$0: $cli not built" >&2; exit 1; }
command -v jq >/dev/null || { echo "$0: jq not found (scripts/install-deps.sh)" >&2; exit 1; }
fixtures=$(sed -n 's/^QS_FIXTURES_DIR:PATH=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
model=${fixtures:-$root/../shared/fixtures}/tinyllama-bpe512
data=$model/ref_test_tokens.npy
[ -f "$data" ] || { echo "$0: fixture $data missing" >&2; exit 1; }

begin=$SECONDS
work=$(mktemp -d /tmp/qs-slurm-test.XXXXXX)
cleanup() {
  scripts/slurm-local.sh stop "$work/slurm" || true
  [ "${QS_KEEP_SLURM_TEST:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "slurm-test: FAILED: $*" >&2
  tail -n 30 "$work"/merged.qsproj.shards/*.log "$work"/slurm/slurm*.log >&2 2>/dev/null || true
  exit 1
}

eval "$(scripts/slurm-local.sh start "$work/slurm")"
echo "slurm-test: local Slurm up ($(sinfo -h -o '%D node, %c CPUs'))"
grid=$work/grid.json
echo '{"format": ["int3", "int4", "int8"], "group": [32, 128], "asym": [true]}' >"$grid"
flags=(--ctx 64 --windows 8)

# The array and its merge job, then the single-process reference sweep while they run.
read -r array merge < <(QS_CLI=$cli packaging/slurm/submit_sweep.sh 4 "$model" "$grid" "$data" \
  "$work/merged.qsproj" "${flags[@]}")
[ -n "${merge:-}" ] || fail "submitting the array and merge jobs"
echo "slurm-test: array job $array (4 tasks), merge job $merge"
OMP_WAIT_POLICY=PASSIVE "$cli" sweep "$model" --grid "$grid" --data "$data" --project "$work/single.qsproj" \
  "${flags[@]}" --json >"$work/single.json" 2>/dev/null || fail "single-process sweep: $(cat "$work/single.json")"

state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort -u | tr '\n' ' '; }
deadline=$((SECONDS + 300))
while :; do
  s=$(state "$merge") a=$(state "$array")
  case "$a" in
    *FAILED*|*CANCELLED*|*TIMEOUT*|*NODE_FAIL*|*OUT_OF_MEMORY*) fail "array job $array: $a" ;;
  esac
  case "$s" in
    "JobState=COMPLETED ") break ;;
    *FAILED*|*CANCELLED*|*TIMEOUT*|*NODE_FAIL*|*OUT_OF_MEMORY*) fail "merge job $merge: $s (array: $(state "$array"))" ;;
  esac
  [ $SECONDS -lt $deadline ] || fail "timed out: merge $s, array $a"
  sleep 1
done
[ "$(state "$array")" = "JobState=COMPLETED " ] || fail "array job $array: $(state "$array")"
for i in 1 2 3 4; do [ -f "$work/merged.qsproj.shards/shard-$i.qsproj" ] || fail "shard $i wrote no project"; done

# Run for run: everything but ids, times and file names, sorted by recipe and settings.
norm() {
  "$cli" runs "$1" --json | jq -S '[.runs[] | del(.id, .model_id, .dataset_id, .started_at, .finished_at,
    .seconds, .arrays_file)] | sort_by((.recipe | tostring) + (.eval_settings | tostring))'
}
norm "$work/merged.qsproj" >"$work/merged.runs"
norm "$work/single.qsproj" >"$work/single.runs"
n=$(jq length "$work/merged.runs")
[ "$n" = 7 ] || fail "merged project holds $n runs, expected 7 (fp32 + 6)"
diff -u "$work/single.runs" "$work/merged.runs" || fail "merged runs differ from the single-process sweep"
# Layer rows of each run, matched by recipe.
ids() { "$cli" runs "$1" --json | jq -r '.runs[] | "\(.recipe | tostring)\t\(.id)"' | sort; }
join -t $'\t' <(ids "$work/merged.qsproj") <(ids "$work/single.qsproj") >"$work/pairs"
[ "$(wc -l <"$work/pairs")" = 7 ] || fail "runs do not pair up by recipe"
while IFS=$'\t' read -r recipe a b; do
  la=$("$cli" runs "$work/merged.qsproj" --layers "$a" --json | jq -S .layers)
  lb=$("$cli" runs "$work/single.qsproj" --layers "$b" --json | jq -S .layers)
  [ "$la" = "$lb" ] || fail "layers of $recipe differ"
  [ "$recipe" = "{}" ] || [ "$(jq length <<<"$la")" -gt 0 ] || fail "run $recipe has no layers"
done <"$work/pairs"
for f in $(jq -r '.runs[] | select(.arrays_file != "") | .arrays_file' <("$cli" runs "$work/merged.qsproj" --json)); do
  [ -f "$work/merged.qsproj.runs/$f" ] || fail "merged arrays file $f missing"
done
echo "slurm-test: OK: 4 shards merged equal the single-process sweep run for run ($((SECONDS - begin)) s)"
