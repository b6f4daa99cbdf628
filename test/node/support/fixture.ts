import { readFileSync } from "node:fs";

/** transformers' random-weight Mixtral checkpoint and its own outputs (../shared/README.md describes them). */
export const fixture = "../shared/fixtures/mixtral-tiny";

/** One of reference.json's cases: an input and what transformers computed for it. */
export interface ReferenceCase {
  input_ids: number[];
  argmax: number[];
  top5_ids: number[][];
  top5_logits: number[][];
  logsumexp: number[];
  last_logits_f32_b64: string;
  final_hidden_mean_f32_b64: string;
  final_hidden_last_f32_b64: string;
  router_topk_per_layer: number[][][];
  greedy_new_ids: number[];
}

export const referenceCases = (
  JSON.parse(readFileSync(`${fixture}/reference.json`, "utf8")) as { cases: ReferenceCase[] }
).cases;

/** A little-endian float32 array from the reference's base64. */
export function referenceFloats(base64: string): Float32Array {
  return new Float32Array(new Uint8Array(Buffer.from(base64, "base64")).buffer);
}
