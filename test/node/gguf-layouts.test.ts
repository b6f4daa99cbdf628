// The GGUF layouts llama.cpp's converter writes, made here from random Hugging Face checkpoints by
// the converter's own rules (attn_q/attn_k rows permuted per head, experts merged into one tensor
// or, as files before April 2024 have them, one per expert; float32 tensors): a dense Llama/Mistral
// and a Mixtral must score exactly as the checkpoints they came from, which tests the name mapping,
// the un-permutation and both expert layouts against a reference that needs no llama.cpp.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../../backend/engine/checkpoint/checkpoint.ts";
import { writeRandomCheckpoint } from "../../backend/engine/checkpoint/random-checkpoint.ts";
import { tensorNames } from "../../backend/engine/checkpoint/tensor-names.ts";
import { readTensorF32 } from "../../backend/engine/checkpoint/tensor-data.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { writeGguf, type GgufTensorSpec } from "./support/gguf-writer.ts";

useTempCache();
const dir = mkdtempSync(join(tmpdir(), "moxie-gguf-layouts-"));
const engines: OnnxEngine[] = [];
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

const shape = { hidden: 64, ffn: 128, layers: 2, heads: 4, kvHeads: 2, vocab: 512 };
const hfConfig = (architecture: string, experts: number) => ({
  architectures: [architecture],
  hidden_size: shape.hidden,
  intermediate_size: shape.ffn,
  num_hidden_layers: shape.layers,
  num_attention_heads: shape.heads,
  num_key_value_heads: shape.kvHeads,
  vocab_size: shape.vocab,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  initializer_range: 0.2,
  ...(experts > 0 ? { num_local_experts: experts, num_experts_per_tok: 2 } : {}),
});

/** convert_hf_to_gguf's permute: within each head, HF row j·half + i becomes row 2i + j. */
function permuteRows(weight: Float32Array, rows: number, heads: number): Float32Array {
  const cols = weight.length / rows;
  const perHead = rows / heads;
  const half = perHead / 2;
  const out = new Float32Array(weight.length);
  for (let row = 0; row < rows; row++) {
    const head = Math.floor(row / perHead);
    const within = row % perHead;
    const to = head * perHead + (within % half) * 2 + Math.floor(within / half);
    out.set(weight.subarray(row * cols, (row + 1) * cols), to * cols);
  }
  return out;
}

/** A float32 GGUF of a Hugging Face checkpoint, as llama.cpp's converter lays it out. */
async function convert(hfDir: string, file: string, experts: number, merged: boolean): Promise<void> {
  const checkpoint = await openCheckpoint(hfDir);
  const read = (name: string) => readTensorF32(checkpoint.tensors.get(name)!);
  const tensors: GgufTensorSpec[] = [];
  const add = (name: string, hfDims: readonly number[], values: Float32Array) =>
    tensors.push({ name, type: "F32", dims: [...hfDims].reverse(), data: new Uint8Array(values.buffer) });
  const { hidden: h, ffn: f, heads, kvHeads, vocab } = shape;
  const d = h / heads;
  add("token_embd.weight", [vocab, h], read(tensorNames.embedding));
  add("output_norm.weight", [h], read(tensorNames.finalNorm));
  add("output.weight", [vocab, h], read(tensorNames.lmHead));
  for (let layer = 0; layer < shape.layers; layer++) {
    const names = tensorNames.layer(layer);
    const blk = (part: string) => `blk.${layer}.${part}.weight`;
    add(blk("attn_norm"), [h], read(names.inputNorm));
    add(blk("ffn_norm"), [h], read(names.postAttentionNorm));
    add(blk("attn_q"), [heads * d, h], permuteRows(read(names.query), heads * d, heads));
    add(blk("attn_k"), [kvHeads * d, h], permuteRows(read(names.key), kvHeads * d, kvHeads));
    add(blk("attn_v"), [kvHeads * d, h], read(names.value));
    add(blk("attn_output"), [h, heads * d], read(names.output));
    if (experts === 0) {
      add(blk("ffn_gate"), [f, h], read(names.mlp.gate));
      add(blk("ffn_up"), [f, h], read(names.mlp.up));
      add(blk("ffn_down"), [h, f], read(names.mlp.down));
      continue;
    }
    add(blk("ffn_gate_inp"), [experts, h], read(names.router));
    for (const [part, role, dims] of [
      ["gate", "gate", [f, h]],
      ["up", "up", [f, h]],
      ["down", "down", [h, f]],
    ] as const) {
      const each = Array.from({ length: experts }, (_, e) => read(names.expert(e)[role]));
      if (!merged) each.forEach((values, e) => add(`blk.${layer}.ffn_${part}.${e}.weight`, dims, values));
      else {
        const all = new Float32Array(each.reduce((sum, values) => sum + values.length, 0));
        each.forEach((values, e) => all.set(values, e * values.length));
        add(blk(`ffn_${part}_exps`), [experts, ...dims], all);
      }
    }
  }
  await writeGguf(file, {
    metadata: [
      ["general.architecture", "string", "llama"],
      ["llama.block_count", "uint32", shape.layers],
      ["llama.context_length", "uint32", 256],
      ["llama.embedding_length", "uint32", h],
      ["llama.feed_forward_length", "uint32", f],
      ["llama.attention.head_count", "uint32", heads],
      ["llama.attention.head_count_kv", "uint32", kvHeads],
      ["llama.attention.layer_norm_rms_epsilon", "float32", 1e-5],
      ["llama.rope.freq_base", "float32", 10000],
      ["llama.vocab_size", "uint32", vocab],
      ...(experts > 0
        ? ([
            ["llama.expert_count", "uint32", experts],
            ["llama.expert_used_count", "uint32", 2],
          ] as const)
        : []),
    ],
    tensors,
  });
}

const load = async (model: string) => {
  const engine = await loadEngine({ model, threads: 1, kvCacheSequences: 2, contextLength: 128 });
  engines.push(engine);
  return engine;
};
const ids = [1, 17, 300, 42, 5, 511, 64, 128, 9, 256, 33, 2, 77, 401, 12, 90];

describe.each([
  ["a dense Llama/Mistral", "LlamaForCausalLM", 0, true],
  ["a Mixtral, experts merged", "MixtralForCausalLM", 4, true],
  ["a Mixtral, one tensor per expert (files before April 2024)", "MixtralForCausalLM", 4, false],
] as const)("%s as GGUF", (_, architecture, experts, merged) => {
  it("scores exactly as the checkpoint it was converted from", async () => {
    const hfDir = join(dir, `${architecture}-${experts}-${merged}`);
    writeRandomCheckpoint(hfDir, hfConfig(architecture, experts), { seed: 3 });
    const file = `${hfDir}.gguf`;
    await convert(hfDir, file, experts, merged);
    const [fromCheckpoint] = await (await load(hfDir)).evaluate([ids]);
    const [fromGguf] = await (await load(file)).evaluate([ids]);
    // The same float32 weights through the same graph: equal up to ORT's summation order.
    expect(maxDifference(fromGguf.logits, fromCheckpoint.logits)).toBeLessThan(1e-5);
  });
});
