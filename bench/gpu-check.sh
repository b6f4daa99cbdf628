#!/usr/bin/env bash
# The GPU check of issue 23, in one command on a lent GPU machine (../shared/gpu/README.md).
#
#   bash bench/gpu-check.sh prepare      here: bundles moxie (../shared/gpu/bundle.sh) and copies one
#                                        fidelity fixture into .gpu/ (ignored by git, carried along)
#   bash bench/gpu-check.sh              there (carry .gpu and .gl): at most about 8 minutes
#
# It prints the WebGPU adapter (or why none was found), fidelity on one fixture against
# transformers' argmax, `moxie bench` on mini in fp16 and int4 (the KV cache in float16), and a
# Mixtral-8x7B-shaped stack of 2 layers in int4: prefill and decode at x1, x8 and x32 with the
# weight bytes a step reads per second.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "${1:-}" = prepare ]; then
  bash ../shared/gpu/bundle.sh
  rm -rf .gpu/fixture && cp -r ../shared/fixtures/mixtral-tiny .gpu/fixture
  exit 0
fi

echo "## Vulkan drivers (ICDs) on this machine"
find /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d -name '*.json' 2>&1 | head -20
reference() { python3 -c "import json; print(${1}(json.load(open('.gpu/fixture/reference.json'))[0]))"; }
echo "## fidelity: transformers' argmax on fixture case 0 (moxie score must print the same)"
reference 'lambda c: c["argmax"]'
ids=$(reference 'lambda c: ",".join(map(str, c["input_ids"]))')
# Weight bytes one decode step of the 2-layer Mixtral stack reads in int4 groups of 32 (0.5625 B per
# weight): per layer the attention (4096 x 6144 in, 4096 x 4096 out) and the experts the batch
# touches (3 x 4096 x 14336 each: x1 touches 2 of 8, x8 and x32 nearly all), plus the lm_head
# (32000 x 4096). GB/s = bytes / step time (batch / decode_median_step_tok_s); an H100 SXM reads
# about 3,350 GB/s from HBM3.
echo "int4 weight bytes per decode step, 2 layers: x1 $(((2 * (4096 * 10240 + 2 * 3 * 4096 * 14336) + 32000 * 4096) * 9 / 16)), x8/x32 up to $(((2 * (4096 * 10240 + 8 * 3 * 4096 * 14336) + 32000 * 4096) * 9 / 16))"
# One on-device.sh run (it unpacks the bundle once); the adapter line comes first in each command's output.
bash .gpu/on-device.sh \
  "moxie score --model .gpu/fixture --execution-provider webgpu --ids $ids" \
  "moxie make-checkpoint --preset mini --out /tmp/mini" \
  "moxie bench --model /tmp/mini --execution-provider webgpu --dtype float16 --kv-cache-dtype float16 --batch 1,8 --gen 32 --json" \
  "moxie bench --model /tmp/mini --execution-provider webgpu --kv-cache-dtype float16 --quantize int4 --batch 1,8 --gen 32 --json" \
  "moxie bench --model /tmp/mini --execution-provider webgpu --quantize int4 --depth 4096 --batch 1 --gen 32 --json" \
  "moxie make-checkpoint --preset mixtral-8x7b --layers 2 --out /tmp/mixtral-2" \
  "moxie bench --model /tmp/mixtral-2 --execution-provider webgpu --kv-cache-dtype float16 --quantize int4 --batch 1,8,32 --gen 16 --json"
