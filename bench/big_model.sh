#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Big models on one machine (issue 11): a Llama with Llama-2-7B's shapes (random BF16 weights,
# bench/make_synthetic_llama.py, written once) through inspect, RTN quantize --out, eval --low-memory
# with and without a recipe, and layer-major GPTQ; wall time and peak RSS of each from /usr/bin/time -v,
# printed as one markdown table. Not part of CI (minutes to hours, 13.5 GB on disk).
#
# usage: bench/big_model.sh [--dir DIR] [--layers N] [--gptq-layers N] [--windows N] [--threads N]
#   --dir          where the model lives (default ${TMPDIR:-/tmp}/qs-llama7b; reused when present)
#   --layers       decoder layers of the model (default 32, Llama-2-7B's)
#   --gptq-layers  layers of a second, shorter model of the same shapes for layer-major GPTQ (default 2;
#                  GPTQ costs the same per layer, so whole-model time ~ per-layer time x 32)
#   --windows      evaluation windows of 128 tokens (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${TMPDIR:-/tmp}/qs-llama7b"; layers=32; gptq_layers=2; windows=4; threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    --gptq-layers) gptq_layers="$2"; shift 2 ;;
    --windows) windows="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cli="$PWD/build/bin/quantscope-cli"
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "needs Debian's python3-numpy" >&2; exit 1; }
shape=(--hidden 4096 --heads 32 --kv-heads 32 --intermediate 11008 --vocab 32000)
make_model() { # DIR LAYERS
  if [ ! -f "$1/config.json" ]; then
    echo "writing a ${2}-layer Llama-2-7B-shaped model to $1 ..." >&2
    /usr/bin/python3 bench/make_synthetic_llama.py --out "$1" --layers "$2" "${shape[@]}" >&2
  fi
}
make_model "$dir" "$layers"
make_model "$dir-gptq$gptq_layers" "$gptq_layers"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY=PASSIVE

echo "| step | wall s | peak RSS GiB |"
echo "|---|---:|---:|"
measure() { # LABEL CMD...
  local label="$1"; shift
  /usr/bin/time -v "$@" > "$out/stdout" 2> "$out/time" || { tail -5 "$out/time" >&2; echo "| $label | failed | |"; return; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$out/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.2f", $2/1048576}' "$out/time")
  echo "| $label | $wall | $rss |"
}
data="$dir/tokens.npy"
measure "inspect" "$cli" inspect "$dir"
measure "quantize rtn int4 g128 --out (bf16)" "$cli" quantize "$dir" --method rtn --format int4 --group 128 \
  --out "$out/rtn" --out-dtype bf16
rm -rf "$out/rtn"
measure "eval --low-memory, $windows x 128 tokens" "$cli" eval "$dir" --data "$data" --windows "$windows" --low-memory
measure "eval --low-memory rtn int4 g128 (vs fp32)" "$cli" eval "$dir" --data "$data" --windows "$windows" \
  --low-memory --method rtn --format int4 --group 128
measure "eval --low-memory gptq int4 g128, $gptq_layers layers, 16 calib windows" "$cli" eval "$dir-gptq$gptq_layers" \
  --data "$dir-gptq$gptq_layers/tokens.npy" --windows "$windows" --low-memory --method gptq --format int4 --group 128 \
  --calib "$dir-gptq$gptq_layers/tokens.npy" --calib-windows 16
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); threads $threads; model $dir ($layers layers)"
