#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Submits a sharded sweep and its merge in one go (see README.md):
#   submit_sweep.sh N MODEL GRID.json DATA P.qsproj [sweep flags]
# N array tasks write P.qsproj.shards/shard-I.qsproj; a job that starts when all of them succeeded
# merges them into P.qsproj. Prints "ARRAY_JOB_ID MERGE_JOB_ID". Extra sbatch options (partition,
# time limit, account) go in QS_SBATCH_ARGS; QS_CLI names the quantscope-cli binary.
set -euo pipefail
if [ $# -lt 5 ]; then
  echo "usage: $0 N MODEL GRID.json DATA P.qsproj [sweep flags]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
n=$1 model=$2 grid=$3 data=$4 project=$5
shift 5
shards="$project.shards"
mkdir -p "$shards"
# shellcheck disable=SC2086 # QS_SBATCH_ARGS is a list of options
array=$(sbatch --parsable ${QS_SBATCH_ARGS:-} --array="1-$n" --output="$shards/sweep-%A_%a.log" \
  "$here/sweep_array.sbatch" "$model" "$grid" "$data" "$shards" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${QS_SBATCH_ARGS:-} --dependency="afterok:$array" --output="$shards/merge-%j.log" \
  "$here/merge.sbatch" "$project" "$shards")
echo "${array} ${merge%%;*}"
