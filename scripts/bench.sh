#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The engine's speed beside its peers, measured in one run (issue 12), printed as one markdown table:
#   - evaluation (quantscope-cli eval, tokens/s) against plain PyTorch with OpenBLAS (bench/peers/ppl_torch.py)
#     on the fixture (64 windows of 128) and on a synthetic Llama of hidden 2048 (~0.9B parameters,
#     bench/make_synthetic_llama.py, written once under $TMPDIR), 1 and 2 threads, the two programs
#     alternated, medians of --reps; the same with --compute bf16 beside PyTorch's float32 and its bf16
#     Linears (ppl_torch.py --bf16);
#   - the forward pass's product (tensor/gemm.h) beside Eigen's on the same operands (qs_bench_gemm), and
#     its bf16 products (tensor/gemm_bf16.h) beside PyTorch's bf16 matmul (bench/peers/matmul_torch.py);
#   - GPTQ on 4096x4096 (qs_bench_gptq) against PyTorch (bench/peers/gptq_torch.py);
#   - fake quantization per format against memcpy (qs_bench_fake_quant) and PyTorch (bench/peers/fq_torch.py).
# Not part of CI: minutes, and only ratios on one quiet machine mean anything.
#
# usage: scripts/bench.sh [--reps N] [--no-1b] [--only eval|gemm|gptq|fq]...
set -euo pipefail
cd "$(dirname "$0")/.."
reps=5; big=1; only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --no-1b) big=0; shift ;;
    --only) only+=("$2"); shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
wants() { [ ${#only[@]} -eq 0 ] || printf '%s\n' "${only[@]}" | grep -qx "$1"; }

py=/usr/bin/python3
$py -c "import torch, numpy" 2>/dev/null ||
  { echo "the peers need Debian's python3-torch and python3-numpy (../shared/peers/README.md)" >&2; exit 1; }
update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -q '^Value: .*openblas' ||
  { echo "PyTorch would use the reference BLAS: apt-get install libopenblas0-pthread" >&2; exit 1; }
cmake --build build --target quantscope-cli qs_bench_gemm qs_bench_gptq qs_bench_fake_quant >&2

fixture=../shared/fixtures/tinyllama-bpe512
export OMP_WAIT_POLICY=PASSIVE
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
json() { $py -c "import json, sys; print(json.load(sys.stdin)$1)"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }

# The ratios move with the processor: name its family and model, and whether the AVX-512 tiles run.
cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(sed -n 's/^cpu family\t*: //p' /proc/cpuinfo | head -1)"
cpu+=", model $(sed -n 's/^model\t*: //p' /proc/cpuinfo | head -1))"
grep -qw avx512f /proc/cpuinfo && kernel="AVX-512 tiles" || kernel="AVX2 tiles (no AVX-512)"
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores of $cpu, $kernel;" \
  "$($py -c 'import torch; print("PyTorch", torch.__version__)') with OpenBLAS; medians of $reps."
echo
row "what" "threads" "QuantScope" "peer" "ratio"
row "---" "---" "---" "---" "---"

# pair LABEL OURS PEER: tokens/s of two commands (functions of the thread count printing it), alternated,
# at 1 and 2 threads.
pair() {
  local label="$1" ours_fn="$2" peer_fn="$3" t i
  for t in 1 2; do
    local ours=() theirs=()
    for ((i = 0; i < reps; i++)); do
      ours+=("$($ours_fn "$t")")
      theirs+=("$($peer_fn "$t")")
    done
    local a b
    a=$(printf '%s\n' "${ours[@]}" | median); b=$(printf '%s\n' "${theirs[@]}" | median)
    row "$label" "$t" "$(printf %.0f "$a")" "$(printf %.0f "$b")" "$(ratio "$a" "$b")"
  done
}
cli_eval() { # THREADS MODEL DATA ARGS...: quantscope-cli eval's tokens/s
  local t="$1"; shift
  OMP_NUM_THREADS=$t build/bin/quantscope-cli eval "$@" --ctx 128 --threads "$t" --json 2>/dev/null | json '["tokens_per_second"]'
}
torch_eval() { # THREADS MODEL DATA WINDOWS [--bf16]
  OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 $py bench/peers/ppl_torch.py --threads "$1" --repeat 1 \
    --model "$2" --tokens "$3" --windows "$4" ${5:-} | json '["tokens_per_second"]'
}
if wants eval; then
  ours_fixture() { cli_eval "$1" "$fixture" --data "$fixture/ref_test_tokens.npy" --windows 64 "${@:2}"; }
  torch_fixture() { torch_eval "$1" "$fixture" "$fixture/ref_test_tokens.npy" 64; }
  pair "eval fixture, 64 x 128, tokens/s (peer: PyTorch)" ours_fixture torch_fixture
  # --compute bf16: Linears and head on bf16 operands (AMX tiles where present), beside PyTorch's float32
  # and its bf16 Linears (oneDNN).
  ours_fixture_bf16() { ours_fixture "$1" --compute bf16; }
  torch_fixture_bf16() { torch_eval "$1" "$fixture" "$fixture/ref_test_tokens.npy" 64 --bf16; }
  pair "eval fixture --compute bf16, tokens/s (peer: PyTorch float32)" ours_fixture_bf16 torch_fixture
  pair "eval fixture --compute bf16, tokens/s (peer: PyTorch bf16 Linears)" ours_fixture_bf16 torch_fixture_bf16
  if [ -d tests/llamacpp/node_modules/node-llama-cpp ]; then
    gguf="$(mktemp -d)/fixture_f16.gguf"
    text=../shared/fixtures/corpus/test.txt
    build/bin/quantscope-cli export "$fixture" --method rtn --format int8 --as gguf --gguf-type f16 --out "$gguf" >/dev/null 2>&1
    ours_gguf() { cli_eval "$1" "$gguf" --data "$text" --scoring llama.cpp --windows 32; }
    llama_gguf() { node tests/llamacpp/perplexity.mjs "$gguf" "$text" --ctx 128 --chunks 32 --speed "$1" | json '["tokens_per_second"]'; }
    pair "eval fixture f16 GGUF, 32 x 128, tokens/s (peer: llama.cpp, head on 1 row)" ours_gguf llama_gguf
  fi
  if [ "$big" = 1 ]; then
    dir="${TMPDIR:-/tmp}/qs-llama1b"
    [ -f "$dir/config.json" ] || $py bench/make_synthetic_llama.py --out "$dir" >&2
    ours_big() { cli_eval "$1" "$dir" --data "$dir/tokens.npy" --windows 4 "${@:2}"; }
    torch_big() { torch_eval "$1" "$dir" "$dir/tokens.npy" 4; }
    pair "eval hidden-2048 Llama (0.85B), 4 x 128, tokens/s (peer: PyTorch)" ours_big torch_big
    ours_big_bf16() { ours_big "$1" --compute bf16; }
    torch_big_bf16() { torch_eval "$1" "$dir" "$dir/tokens.npy" 4 --bf16; }
    pair "eval 0.85B --compute bf16, tokens/s (peer: PyTorch float32)" ours_big_bf16 torch_big
    pair "eval 0.85B --compute bf16, tokens/s (peer: PyTorch bf16 Linears)" ours_big_bf16 torch_big_bf16
  fi
fi

# Google Benchmark medians: NAME FILTER FIELD -> value of the median aggregate.
gbench() {
  "build/bin/$1" --benchmark_filter="$2" --benchmark_repetitions="$reps" --benchmark_min_time=0.3 \
    --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true --benchmark_format=json 2>/dev/null |
    $py -c "
import json, sys
for b in json.load(sys.stdin)['benchmarks']:
    if b.get('aggregate_name', 'median') == 'median': print(b['run_name'], b.get('$3', b.get('real_time')))"
}
if wants gemm; then
  # One row per shape and thread count, in that order (the runs themselves are interleaved at random).
  while read -r name value; do
    shape=${name#BM_EigenGemm/}
    ours=$(gbench qs_bench_gemm "BM_GemmNT/$shape\$" items_per_second | awk '{print $2}')
    t=$(sed -E 's/.*threads:([0-9]+).*/\1/' <<<"$shape")
    row "x·Wᵀ $(sed -E 's|threads:[0-9]+/||; s|/real_time||; s|m:||; s|/n:| x |; s|/k:| x |' <<<"$shape"), GFLOP/s (peer: Eigen)" \
      "$t" "$(awk -v v="$ours" 'BEGIN {printf "%.1f", v / 1e9}')" "$(awk -v v="$value" 'BEGIN {printf "%.1f", v / 1e9}')" \
      "$(ratio "$ours" "$value")"
  done < <(gbench qs_bench_gemm 'BM_EigenGemm' items_per_second |
    sed -E 's|threads:([0-9]+)/(.*)/real_time|\2 \1 &|' | sort -t' ' -k1,1V -k2,2n | cut -d' ' -f3-)
  # bf16 products (AMX tiles where present) beside PyTorch's bf16 matmul (oneDNN) on the Linear shapes.
  for shape in "128 2048 2048" "1024 2048 2048" "128 5632 2048" "128 2048 5632"; do
    read -r m n k <<<"$shape"
    for t in 1 2; do
      ours=$(gbench qs_bench_gemm "BM_Bf16Products/threads:$t/m:$m/n:$n/k:$k/real_time\$" items_per_second | awk '{print $2}')
      b=$(OMP_NUM_THREADS=$t $py bench/peers/matmul_torch.py "$m" "$n" "$k" --threads "$t" --dtype bf16 --repeat "$reps" |
        json '["gflops"]')
      row "x·Wᵀ bf16 $m x $n x $k, GFLOP/s (peer: PyTorch bf16 matmul)" "$t" \
        "$(awk -v v="$ours" 'BEGIN {printf "%.1f", v / 1e9}')" "$(printf %.1f "$b")" "$(ratio "$ours" "$(awk -v v="$b" 'BEGIN {print v * 1e9}')")"
    done
  done
fi

peers=../shared/peers
if wants gptq; then
  for t in 1 2; do
    ours=$(gbench qs_bench_gptq "rows:4096/threads:$t" real_time | awk '{print $2}' | head -1)
    b=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t $py $peers/gptq_torch.py 4096 "$t" 3 |
      json '["samples"]' | tr -d '[] ' | tr , '\n' | median)
    row "GPTQ 4096x4096 int4 g128, s/layer (peer: PyTorch)" "$t" "$(printf %.2f "$ours")" "$(printf %.2f "$b")" \
      "$(ratio "$b" "$ours")"
  done
fi

# Fake quantization: each format's GB/s against memcpy of the same bytes (the ceiling), and PyTorch's
# fastest coding of the three formats it was written for.
if wants fq; then
  results=$(gbench qs_bench_fake_quant '.' bytes_per_second)
  for t in 1 2; do
    memcpy=$(awk '$1 ~ "^memcpy/" {print $2}' <<<"$results") # one thread: the per-core ceiling
    while read -r name gbs; do
      row "fake quant ${name#fq/}, GB/s (peer: memcpy, 1 thread)" "$t" "$(awk -v v="$gbs" 'BEGIN {printf "%.2f", v / 1e9}')" \
        "$(awk -v v="$memcpy" 'BEGIN {printf "%.2f", v / 1e9}')" "$(ratio "$gbs" "$memcpy")"
    done < <(awk -v t="$t" '$1 ~ "^fq/" {n = $1; sub("/" t "/real_time$", "", n); if (n != $1) print n, $2}' <<<"$results" | sort)
    OMP_NUM_THREADS=$t $py $peers/fq_torch.py "$t" 5 | $py -c "
import json, statistics, sys
best = {}
for line in sys.stdin:
    r = json.loads(line)
    best[r['format']] = max(best.get(r['format'], 0), statistics.median(r['samples']))
for f, v in best.items(): print(f, v)" | while read -r fmt gbs; do
      row "fake quant $fmt, GB/s: PyTorch's fastest coding" "$t" "" "$(printf %.2f "$gbs")" ""
    done
  done
fi
