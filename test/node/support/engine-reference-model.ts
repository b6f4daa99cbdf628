import { readWeight, type Checkpoint } from "../../../backend/engine/checkpoint/checkpoint.ts";

/**
 * A direct float64 transcription of transformers' Mixtral/Mistral forward pass (eager attention,
 * full recompute, no cache): the outside yardstick for configurations the fixture does not cover.
 */
export function referenceLogits(checkpoint: Checkpoint, tokens: number[]): Float64Array[] {
  const c = checkpoint.config;
  const weights = new Map<string, Float32Array>();
  const w = (name: string) => weights.get(name) ?? weights.set(name, readWeight(checkpoint, name)).get(name)!;
  const matvec = (m: Float32Array, x: ArrayLike<number>, rows: number) => {
    const cols = x.length;
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let i = 0; i < cols; i++) sum += m[r * cols + i] * x[i];
      out[r] = sum;
    }
    return out;
  };
  const rmsNorm = (x: Float64Array, weight: Float32Array) => {
    const scale = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + c.rmsNormEps);
    return x.map((v, i) => v * scale * weight[i]);
  };
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const softmax = (x: number[]) => {
    const max = x.reduce((a, b) => Math.max(a, b), -Infinity);
    const e = x.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  };
  const rope = (vector: Float64Array, position: number) => {
    const d = c.headDim;
    const out = new Float64Array(d);
    for (let i = 0; i < d / 2; i++) {
      const angle = position / c.ropeTheta ** ((2 * i) / d);
      out[i] = vector[i] * Math.cos(angle) - vector[i + d / 2] * Math.sin(angle);
      out[i + d / 2] = vector[i + d / 2] * Math.cos(angle) + vector[i] * Math.sin(angle);
    }
    return out;
  };
  const embed = w("model.embed_tokens.weight");
  let states = tokens.map((token) =>
    Float64Array.from(embed.subarray(token * c.hiddenSize, (token + 1) * c.hiddenSize)),
  );
  const d = c.headDim;
  for (let layer = 0; layer < c.layers; layer++) {
    const p = `model.layers.${layer}`;
    const normed = states.map((x) => rmsNorm(x, w(`${p}.input_layernorm.weight`)));
    const [wq, wk, wv, wo] = ["q", "k", "v", "o"].map((n) => w(`${p}.self_attn.${n}_proj.weight`));
    const head = (v: Float64Array, h: number) => v.subarray(h * d, (h + 1) * d);
    const qs = normed.map((x, t) => {
      const q = matvec(wq, x, c.heads * d);
      return Array.from({ length: c.heads }, (_, h) => rope(head(q, h), t));
    });
    const ks = normed.map((x, t) => {
      const k = matvec(wk, x, c.kvHeads * d);
      return Array.from({ length: c.kvHeads }, (_, h) => rope(head(k, h), t));
    });
    const vs = normed.map((x) => {
      const v = matvec(wv, x, c.kvHeads * d);
      return Array.from({ length: c.kvHeads }, (_, h) => head(v, h));
    });
    states = states.map((x, t) => {
      const context = new Float64Array(c.heads * d);
      const first = c.slidingWindow === null ? 0 : Math.max(0, t - c.slidingWindow + 1);
      for (let h = 0; h < c.heads; h++) {
        const kv = Math.floor(h / (c.heads / c.kvHeads));
        const scores: number[] = [];
        for (let j = first; j <= t; j++) {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += qs[t][h][i] * ks[j][kv][i];
          scores.push(dot / Math.sqrt(d));
        }
        const probs = softmax(scores);
        for (let j = first; j <= t; j++)
          for (let i = 0; i < d; i++) context[h * d + i] += probs[j - first] * vs[j][kv][i];
      }
      const out = matvec(wo, context, c.hiddenSize);
      return x.map((v, i) => v + out[i]);
    });
    const mlp = (x: Float64Array, gate: Float32Array, up: Float32Array, down: Float32Array) => {
      const g = matvec(gate, x, c.ffnSize);
      const u = matvec(up, x, c.ffnSize);
      return matvec(
        down,
        g.map((v, i) => silu(v) * u[i]),
        c.hiddenSize,
      );
    };
    states = states.map((x) => {
      const normed2 = rmsNorm(x, w(`${p}.post_attention_layernorm.weight`));
      const out = new Float64Array(c.hiddenSize);
      if (c.experts > 0) {
        const probs = softmax(Array.from(matvec(w(`${p}.block_sparse_moe.gate.weight`), normed2, c.experts)));
        const chosen = probs
          .map((_, e) => e)
          .sort((a, b) => probs[b] - probs[a])
          .slice(0, c.expertsPerToken);
        const total = chosen.reduce((s, e) => s + probs[e], 0);
        for (const e of chosen) {
          const q = `${p}.block_sparse_moe.experts.${e}`;
          mlp(normed2, w(`${q}.w1.weight`), w(`${q}.w3.weight`), w(`${q}.w2.weight`)).forEach(
            (v, i) => (out[i] += (v * probs[e]) / total),
          );
        }
      } else {
        mlp(
          normed2,
          w(`${p}.mlp.gate_proj.weight`),
          w(`${p}.mlp.up_proj.weight`),
          w(`${p}.mlp.down_proj.weight`),
        ).forEach((v, i) => (out[i] = v));
      }
      return x.map((v, i) => v + out[i]);
    });
  }
  const head = c.tiedEmbeddings ? embed : w("lm_head.weight");
  return states.map((x) => matvec(head, rmsNorm(x, w("model.norm.weight")), c.vocabSize));
}
