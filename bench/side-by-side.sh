#!/usr/bin/env bash
# moxie against llama.cpp on the same checkpoint, the two programs alternated in one window as
# ../shared/anchors/llama.cpp-cpu.md prescribes (it also says how to build llama.cpp and convert
# a moxie checkpoint to GGUF). Prints each program's own output with `uptime` before each run.
#
#   bench/side-by-side.sh LLAMA_BIN_DIR MODEL_DIR Q4_0.gguf F32.gguf [ROUNDS] [DEPTH]
#
# Per round and precision (int4 ~ Q4_0, fp32 ~ F32): llama-bench pp512, llama-batched-bench
# decode x1 and x8 from one token (-npp 1, total tokens / total time), then `moxie bench` (the
# same figures); with DEPTH, decode x1 after DEPTH cached tokens for int4 on both sides.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 4 ]; then
  sed -n '2,11p' "$0"
  exit 2
fi
bin=$1 model=$2 q4=$3 f32=$4 rounds=${5:-2} depth=${6:-}

run() {
  echo "### $* | $(uptime)"
  "$@"
}

for round in $(seq "$rounds"); do
  for precision in int4 fp32; do
    if [ "$precision" = int4 ]; then gguf=$q4 quantize=(--quantize int4); else gguf=$f32 quantize=(); fi
    echo "## round $round, $precision"
    run "$bin/llama-bench" -m "$gguf" -t 2 -p 512 -n 0 -r 2
    run "$bin/llama-batched-bench" -m "$gguf" -c 2048 -b 2048 -ub 512 -npp 1 -ntg 128 -npl 1,8 -t 2 -tb 2
    run node bin/moxie.js bench --model "$model" "${quantize[@]}" --threads 2 --json
  done
  if [ -n "$depth" ]; then
    echo "## round $round, int4 at depth $depth"
    run "$bin/llama-batched-bench" -m "$q4" -c $((depth + 256)) -b 2048 -ub 512 -npp "$depth" -ntg 64 -npl 1 -t 2 -tb 2
    run node bin/moxie.js bench --model "$model" --quantize int4 --threads 2 --json --batch 1 --prompt 16 --depth "$depth" --gen 64
  fi
done
