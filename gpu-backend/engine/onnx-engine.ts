import { InferenceSession, Tensor } from "onnxruntime-node";
import type { ModelConfig } from "./checkpoint/config.ts";
import type { Engine, ModelShape, Pooling, SlotChunk } from "./engine.ts";
import { graphIo } from "./graph/model-graph.ts";
import { KvCache } from "./kv-cache.ts";
import { stepLayout, type StepRow } from "./step-layout.ts";

export class EngineInputError extends Error {}

/** What one evaluation of whole sequences (no cache) returns, for scoring, embedding and debugging. */
export interface Evaluation {
  /** [tokens, vocab] logits at every position (empty when not asked for). */
  logits: Float32Array;
  /** [tokens, hidden] final-norm hidden states. */
  hidden: Float32Array;
  /** Per layer [tokens, experts] router logits (MoE models only). */
  routerLogits: Float32Array[];
}

/** The Mixtral-family model on one ONNX Runtime session: one session.run per step. */
export class OnnxEngine implements Engine {
  readonly shape: ModelShape;
  private readonly cache: KvCache;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly session: InferenceSession,
    readonly config: ModelConfig,
    slots: number,
    contextLength: number,
    private readonly stepTokens: number,
  ) {
    this.shape = {
      vocabSize: config.vocabSize,
      hiddenSize: config.hiddenSize,
      contextLength,
      slots,
      bosTokenId: config.bosTokenId,
      eosTokenId: config.eosTokenId,
    };
    this.cache = new KvCache(slots, config.layers, config.kvHeads, contextLength, config.headDim);
  }

  /** Runs steps one at a time even if callers overlap. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.shape.slots) throw new EngineInputError(`slot ${slot} does not exist (0..${this.shape.slots - 1})`);
  }

  private checkTokens(tokens: number[], what: string): void {
    if (tokens.length === 0) throw new EngineInputError(`${what}: no tokens`);
    for (const token of tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) {
        throw new EngineInputError(`${what}: token id ${token} is outside the vocabulary [0, ${this.config.vocabSize})`);
      }
    }
  }

  private async run(rows: StepRow[], slots: (number | null)[], logitRows: "last" | "all" | "none", fetch: string[]) {
    const layout = stepLayout(rows, this.config.slidingWindow);
    const { kvHeads, headDim } = this.config;
    const int64 = (data: BigInt64Array) => new Tensor("int64", data, [data.length]);
    const rowsWanted =
      logitRows === "last"
        ? BigInt64Array.from(layout.lastToken, BigInt)
        : BigInt64Array.from({ length: logitRows === "all" ? layout.total : 0 }, (_, i) => BigInt(i));
    const feeds: Record<string, Tensor> = {
      [graphIo.inputIds]: int64(layout.inputIds),
      [graphIo.positions]: int64(layout.positions),
      [graphIo.padIndex]: int64(layout.padIndex),
      [graphIo.unpadIndex]: int64(layout.unpadIndex),
      [graphIo.logitRows]: int64(rowsWanted),
      [graphIo.attentionBias]: new Tensor("float32", layout.bias, [layout.batch, 1, 1, layout.padded, layout.past + layout.padded]),
    };
    const pastDims = [layout.batch, kvHeads, layout.past, headDim];
    for (let layer = 0; layer < this.config.layers; layer++) {
      const { key, value } = this.cache.gather(layer, slots, layout.past);
      feeds[graphIo.pastKey(layer)] = new Tensor("float32", key, pastDims);
      feeds[graphIo.pastValue(layer)] = new Tensor("float32", value, pastDims);
    }
    const outputs = await this.session.run(feeds, fetch);
    return { layout, outputs };
  }

  forward(chunks: SlotChunk[]): Promise<Float32Array[]> {
    return this.serial(async () => {
      if (chunks.length === 0) return [];
      const seen = new Set<number>();
      for (const { slot, tokens } of chunks) {
        this.checkSlot(slot);
        if (seen.has(slot)) throw new EngineInputError(`slot ${slot} appears twice in one step`);
        seen.add(slot);
        this.checkTokens(tokens, `slot ${slot}`);
        if (this.cache.length(slot) + tokens.length > this.shape.contextLength) {
          throw new EngineInputError(`slot ${slot}: ${this.cache.length(slot)} cached + ${tokens.length} new tokens exceed the context length ${this.shape.contextLength}`);
        }
      }
      // Long prompts go through in rounds of at most stepTokens per sequence: attention scores
      // grow with new × cached tokens, so one 4096-token step would need gigabytes.
      const results: Float32Array[] = new Array(chunks.length);
      const longest = Math.max(...chunks.map((chunk) => chunk.tokens.length));
      for (let offset = 0; offset < longest; offset += this.stepTokens) {
        const round = chunks.flatMap(({ slot, tokens }, index) =>
          offset < tokens.length ? [{ slot, index, tokens: tokens.slice(offset, offset + this.stepTokens), last: offset + this.stepTokens >= tokens.length }] : [],
        );
        const logits = await this.step(round);
        round.forEach(({ index, last }, row) => {
          if (last) results[index] = logits[row];
        });
      }
      return results;
    });
  }

  /** One graph run: appends every chunk's tokens to its slot and returns each chunk's last logits. */
  private async step(chunks: SlotChunk[]): Promise<Float32Array[]> {
    const layers = Array.from({ length: this.config.layers }, (_, layer) => layer);
    const fetch = [graphIo.logits, ...layers.flatMap((layer) => [graphIo.newKey(layer), graphIo.newValue(layer)])];
    const { layout, outputs } = await this.run(
      chunks.map(({ slot, tokens }) => ({ past: this.cache.length(slot), tokens })),
      chunks.map((chunk) => chunk.slot),
      "last",
      fetch,
    );
    for (const layer of layers) {
      const keys = outputs[graphIo.newKey(layer)].data as Float32Array;
      const values = outputs[graphIo.newValue(layer)].data as Float32Array;
      let first = 0;
      for (const { slot, tokens } of chunks) {
        this.cache.append(layer, slot, keys, values, first, tokens.length);
        first += tokens.length;
      }
    }
    for (const { slot, tokens } of chunks) this.cache.advance(slot, tokens.length);
    const logits = outputs[graphIo.logits].data as Float32Array;
    const vocab = this.config.vocabSize;
    return layout.lastToken.map((_, row) => logits.slice(row * vocab, (row + 1) * vocab));
  }

  release(slot: number): void {
    this.cache.release(slot);
  }

  copySlot(from: number, to: number): void {
    this.checkSlot(from);
    this.checkSlot(to);
    this.cache.copy(from, to);
  }

  length(slot: number): number {
    return this.cache.length(slot);
  }

  /**
   * Whole sequences without the cache: hidden states, router logits and (unless `withLogits` is
   * false, which spares the lm_head over every position) logits at every position.
   */
  evaluate(sequences: number[][], withLogits = true): Promise<Evaluation[]> {
    return this.serial(async () => {
      sequences.forEach((tokens, i) => {
        this.checkTokens(tokens, `sequence ${i}`);
        if (tokens.length > this.shape.contextLength) throw new EngineInputError(`sequence ${i}: ${tokens.length} tokens exceed the context length ${this.shape.contextLength}`);
      });
      const experts = this.config.experts > 0 ? Array.from({ length: this.config.layers }, (_, layer) => graphIo.routerLogits(layer)) : [];
      const { outputs } = await this.run(
        sequences.map((tokens) => ({ past: 0, tokens })),
        sequences.map(() => null),
        withLogits ? "all" : "none",
        [...(withLogits ? [graphIo.logits] : []), graphIo.hidden, ...experts],
      );
      const { vocabSize: vocab, hiddenSize: hidden, experts: expertCount } = this.config;
      let first = 0;
      return sequences.map((tokens) => {
        const [from, to] = [first, first + tokens.length];
        first = to;
        return {
          logits: withLogits ? (outputs[graphIo.logits].data as Float32Array).slice(from * vocab, to * vocab) : new Float32Array(0),
          hidden: (outputs[graphIo.hidden].data as Float32Array).slice(from * hidden, to * hidden),
          routerLogits: experts.map((name) => (outputs[name].data as Float32Array).slice(from * expertCount, to * expertCount)),
        };
      });
    });
  }

  async embed(sequences: number[][], pooling: Pooling): Promise<Float32Array[]> {
    if (sequences.length === 0) return [];
    const evaluations = await this.evaluate(sequences, false);
    const hidden = this.config.hiddenSize;
    return evaluations.map(({ hidden: states }) => {
      const count = states.length / hidden;
      const pooled = new Float32Array(hidden);
      if (pooling === "last") pooled.set(states.subarray((count - 1) * hidden));
      else {
        for (let t = 0; t < count; t++) for (let i = 0; i < hidden; i++) pooled[i] += states[t * hidden + i] / count;
      }
      const norm = Math.hypot(...pooled) || 1;
      return pooled.map((value) => value / norm);
    });
  }

  /** Writes ONNX Runtime's profile (when the engine was loaded with `profile`). */
  endProfiling(): void {
    this.session.endProfiling();
  }

  async close(): Promise<void> {
    await this.queue;
    await this.session.release();
  }
}
