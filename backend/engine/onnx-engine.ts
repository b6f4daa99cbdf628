import { InferenceSession, Tensor } from "onnxruntime-node";
import type { ModelConfig } from "./checkpoint/config.ts";
import type { TensorRows } from "./checkpoint/tensor-rows.ts";
import type { AttentionReads, Draw, Engine, LogitsChunk, ModelShape, SequenceChunk, Transfers } from "./engine.ts";
import { graphIo } from "./graph/graph-io.ts";
import type { Pooling } from "../options.ts";
import { kvBytesPerValue, type KvPool, type PoolWindow } from "./kv-pool.ts";
import { kvBytesPerToken } from "./parameters.ts";
import { inPlaceWindow, stepLayout, type StepRow } from "./step-layout.ts";

export class EngineInputError extends Error {}

/**
 * What ONNX Runtime and Dawn say when the device itself fails rather than a request: the GPU was
 * lost (driver reset, removed) or a buffer could not be allocated. The engine cannot recover in
 * place; the backend reports it and exits for its supervisor to restart it.
 */
const deviceFault =
  /device (was |is )?lost|lost device|out of memory|outofmemory|failed to (create|allocate|map) (a )?buffer/i;

/** Attention scores one round may hold per layer (256 MiB of floats). */
const maxScoreElements = 2 ** 26;
/** See ModelShape.maxEvaluationTokens. */
const maxEvaluationTokens = 4096;
/** The largest float32 below 1: a uniform rounded up to 1 would pass no token's cumulative mass. */
const maxUniform = 1 - 2 ** -24;

/** 1 / temperature for the graph; 0 (the argmax) also where a tiny temperature's inverse overflows float32, as the limit is greedy. */
function drawScale(temperature: number): number {
  const scale = Math.fround(1 / temperature);
  return temperature > 0 && Number.isFinite(scale) ? scale : 0;
}

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
  /** Totals since the start, and the last run's. */
  readonly transfers: Transfers = { uploaded: 0, downloaded: 0 };
  readonly attentionReads: AttentionReads = { gathered: 0, inPlace: 0 };
  lastStepTransfers: Transfers = { uploaded: 0, downloaded: 0 };
  /** Whether the last run attended to a window of the pool where it lies rather than gathering blocks (inPlaceWindow). */
  lastStepReadInPlace = false;
  fault?: string;
  private queue: Promise<unknown> = Promise.resolve();
  /** The graph's input names: kv_slots is one only where the graph writes a device pool. */
  private readonly inputs: Set<string>;
  /** Block copies asked for between steps, made at the start of the next one. */
  private pendingCopies: { from: number; to: number }[] = [];

  constructor(
    private readonly session: InferenceSession,
    readonly config: ModelConfig,
    private readonly embedding: TensorRows,
    contextLength: number,
    private readonly pool: KvPool,
    private readonly stepTokens: number,
  ) {
    const kv = pool.shape;
    this.inputs = new Set(session.inputNames);
    this.shape = {
      vocabSize: config.vocabSize,
      hiddenSize: config.hiddenSize,
      contextLength,
      maxEvaluationTokens: Math.min(contextLength, maxEvaluationTokens),
      blockSize: kv.blockSize,
      kvBlocks: kv.blocks,
      kvBytesPerToken: kvBytesPerToken(config, kvBytesPerValue[kv.dtype]),
      bosTokenId: config.bosTokenId,
      eosTokenId: config.eosTokenId,
    };
  }

  /** Runs steps one at a time even if callers overlap. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private checkBlock(block: number): void {
    if (!Number.isInteger(block) || block < 0 || block >= this.shape.kvBlocks)
      throw new EngineInputError(`KV block ${block} does not exist (0..${this.shape.kvBlocks - 1})`);
  }

  private checkTokens(tokens: number[], what: string): void {
    if (tokens.length === 0) throw new EngineInputError(`${what}: no tokens`);
    for (const token of tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) {
        throw new EngineInputError(
          `${what}: token id ${token} is outside the vocabulary [0, ${this.config.vocabSize})`,
        );
      }
    }
  }

  /** Blocks, positions and tokens of every chunk are valid, and no block is written by two chunks. */
  private checkChunks(chunks: SequenceChunk[]): void {
    const written = new Set<number>();
    const { blockSize, contextLength } = this.shape;
    chunks.forEach(({ blocks, past, tokens }, i) => {
      this.checkTokens(tokens, `sequence ${i}`);
      const end = past + tokens.length;
      if (!Number.isInteger(past) || past < 0)
        throw new EngineInputError(`sequence ${i}: cached length ${past} is not a count`);
      if (end > contextLength)
        throw new EngineInputError(
          `sequence ${i}: ${past} cached + ${tokens.length} new tokens exceed the context length ${contextLength}`,
        );
      if (blocks.length * blockSize < end)
        throw new EngineInputError(
          `sequence ${i}: ${blocks.length} blocks of ${blockSize} cannot hold ${end} positions`,
        );
      blocks.forEach((block) => this.checkBlock(block));
      for (let b = Math.floor(past / blockSize); b < Math.ceil(end / blockSize); b++) {
        if (written.has(blocks[b]))
          throw new EngineInputError(`KV block ${blocks[b]} is written by two sequences in one step`);
        written.add(blocks[b]);
      }
    });
  }

  /** `draws`: one per row when logitRows is "last" (undefined = no draw). */
  private async run(
    rows: StepRow[],
    logitRows: "last" | "all" | "none",
    fetch: string[],
    draws: (Draw | undefined)[] = [],
  ) {
    const window = this.inputs.has(graphIo.poolTables) ? inPlaceWindow(rows, this.pool.shape) : undefined;
    const feeds = this.stepFeeds(rows, logitRows, draws, window);
    this.lastStepReadInPlace = window !== undefined;
    this.attentionReads[window ? "inPlace" : "gathered"]++;
    const fetches = { ...Object.fromEntries(fetch.map((name) => [name, null])), ...this.pool.boundOutputs };
    if (this.fault) throw new Error(`the device failed earlier: ${this.fault}`);
    try {
      await this.pool.copyBlocks(this.pendingCopies.splice(0));
      const outputs = await this.session.run({ ...feeds, ...this.pool.feeds(window) }, fetches);
      this.count(
        Object.values(feeds),
        fetch.map((name) => outputs[name]),
      );
      return outputs;
    } catch (error) {
      if (deviceFault.test((error as Error).message)) this.fault = (error as Error).message;
      throw error;
    }
  }

  /** A run's feeds but the pool's, from the step's layout; only those the graph has. */
  private stepFeeds(
    rows: StepRow[],
    logitRows: "last" | "all" | "none",
    draws: (Draw | undefined)[],
    window: PoolWindow | undefined,
  ): Record<string, Tensor> {
    const layout = stepLayout(rows, this.pool.shape, window);
    const int64 = (data: BigInt64Array, dims = [data.length]) => new Tensor("int64", data, dims);
    // A device EP's kernels fail on empty tensors, so the lm_head and the draw always get a row:
    // row 0, drawn greedily, where none is wanted (its result is never read).
    const rowsWanted =
      logitRows === "last"
        ? BigInt64Array.from(layout.lastToken, BigInt)
        : BigInt64Array.from({ length: logitRows === "all" ? layout.total : 1 }, (_, i) => BigInt(i));
    const wanted = draws.flatMap((draw, row) => (draw ? [{ draw, row }] : []));
    const drawing = wanted.length > 0 ? wanted : [{ draw: { temperature: 0, uniform: 0 }, row: 0 }];
    const feeds: Record<string, Tensor> = {
      [graphIo.drawRows]: int64(BigInt64Array.from(drawing, ({ row }) => BigInt(row))),
      [graphIo.drawScale]: new Tensor(
        "float32",
        Float32Array.from(drawing, ({ draw }) => drawScale(draw.temperature)),
      ),
      [graphIo.drawUniform]: new Tensor(
        "float32",
        Float32Array.from(drawing, ({ draw }) => Math.min(draw.uniform, maxUniform)),
      ),
      [graphIo.inputsEmbeds]: new Tensor("float32", this.embedding.gather(layout.tokenIds), [
        layout.total,
        this.embedding.width,
      ]),
      [graphIo.positions]: int64(layout.positions),
      [graphIo.padIndex]: int64(layout.padIndex),
      [graphIo.unpadIndex]: int64(layout.unpadIndex),
      [graphIo.blockTables]: new Tensor("int32", layout.blockTables, [layout.batch, layout.tableWidth]),
      [graphIo.poolTables]: int64(layout.poolTables, [layout.batch, layout.poolTableWidth]),
      [graphIo.logitRows]: int64(rowsWanted),
      [graphIo.kvSlots]: int64(layout.kvSlots, [layout.total, 2]),
      [graphIo.cachedLengths]: new Tensor("float32", layout.cachedLengths),
      [graphIo.newLengths]: new Tensor("float32", layout.newLengths),
    };
    return Object.fromEntries(Object.entries(feeds).filter(([name]) => this.inputs.has(name)));
  }

  /** Adds a run's feeds (the pool's not among them) and fetched outputs to the transfer counts. */
  private count(fed: Tensor[], fetched: Tensor[]): void {
    const bytes = (tensors: Tensor[]) =>
      tensors.reduce((sum, tensor) => sum + (tensor.data as ArrayBufferView).byteLength, 0);
    this.lastStepTransfers = { uploaded: bytes(fed), downloaded: bytes(fetched) };
    this.transfers.uploaded += this.lastStepTransfers.uploaded;
    this.transfers.downloaded += this.lastStepTransfers.downloaded;
  }

  forward(chunks: LogitsChunk[]): Promise<Float32Array[]>;
  forward(chunks: SequenceChunk[]): Promise<(Float32Array | number)[]>;
  forward(chunks: SequenceChunk[]): Promise<(Float32Array | number)[]> {
    return this.serial(async () => {
      if (chunks.length === 0) return [];
      this.checkChunks(chunks);
      // Long prompts go through in rounds: attention scores grow with heads × new × cached tokens
      // (32 heads × 512 new × 32k cached = 2 GiB), so a round takes at most stepTokens per
      // sequence and fewer where the scores would exceed their budget.
      const results = new Array<Float32Array | number>(chunks.length);
      const longest = Math.max(...chunks.map((chunk) => chunk.tokens.length));
      const keys = Math.max(...chunks.map((chunk) => chunk.past + chunk.tokens.length));
      const stride = Math.max(
        1,
        Math.min(this.stepTokens, Math.floor(maxScoreElements / (this.config.heads * chunks.length * keys))),
      );
      for (let offset = 0; offset < longest; offset += stride) {
        const round = chunks.flatMap(({ blocks, past, tokens, draw }, index) => {
          if (offset >= tokens.length) return [];
          const last = offset + stride >= tokens.length;
          const slice = tokens.slice(offset, offset + stride);
          return [{ index, blocks, past: past + offset, tokens: slice, last, draw: last ? draw : undefined }];
        });
        const outputs = await this.step(round);
        round.forEach(({ index, last }, row) => {
          if (last) results[index] = outputs[row];
        });
      }
      return results;
    });
  }

  /**
   * One graph run: writes every chunk's new keys and values into its blocks and returns each
   * chunk's last logits or drawn token. Logits are fetched only when some chunk wants them.
   */
  private async step(chunks: SequenceChunk[]): Promise<(Float32Array | number)[]> {
    const draws = chunks.map((chunk) => chunk.draw);
    const fetch = [
      ...(draws.every(Boolean) ? [] : [graphIo.logits]),
      ...(draws.some(Boolean) ? [graphIo.drawnTokens] : []),
      ...this.pool.stepOutputs,
    ];
    const outputs = await this.run(chunks, "last", fetch, draws);
    this.pool.store(outputs, chunks);
    const vocab = this.config.vocabSize;
    let drawn = 0;
    return draws.map((draw, row) =>
      draw
        ? Number((outputs[graphIo.drawnTokens].data as BigInt64Array)[drawn++])
        : (outputs[graphIo.logits].data as Float32Array).slice(row * vocab, (row + 1) * vocab),
    );
  }

  copyBlock(from: number, to: number): void {
    this.checkBlock(from);
    this.checkBlock(to);
    this.pendingCopies.push({ from, to });
  }

  /**
   * Whole sequences without the cache: hidden states, router logits and (unless `withLogits` is
   * false, which spares the lm_head over every position) logits at every position.
   */
  evaluate(sequences: number[][], withLogits = true): Promise<Evaluation[]> {
    return this.serial(async () => {
      sequences.forEach((tokens, i) => {
        this.checkTokens(tokens, `sequence ${i}`);
        if (tokens.length > this.shape.maxEvaluationTokens)
          throw new EngineInputError(
            `sequence ${i}: ${tokens.length} tokens exceed the ${this.shape.maxEvaluationTokens} evaluated at once`,
          );
      });
      const experts =
        this.config.experts > 0
          ? Array.from({ length: this.config.layers }, (_, layer) => graphIo.routerLogits(layer))
          : [];
      const outputs = await this.run(
        sequences.map((tokens) => ({ past: 0, tokens, blocks: [] })),
        withLogits ? "all" : "none",
        [...(withLogits ? [graphIo.logits] : []), graphIo.hidden, ...experts],
      );
      const { vocabSize: vocab, hiddenSize: hidden, experts: expertCount } = this.config;
      let first = 0;
      return sequences.map((tokens) => {
        const [from, to] = [first, first + tokens.length];
        first = to;
        return {
          logits: withLogits
            ? (outputs[graphIo.logits].data as Float32Array).slice(from * vocab, to * vocab)
            : new Float32Array(0),
          hidden: (outputs[graphIo.hidden].data as Float32Array).slice(from * hidden, to * hidden),
          routerLogits: experts.map((name) =>
            (outputs[name].data as Float32Array).slice(from * expertCount, to * expertCount),
          ),
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
    await this.pool.close();
    this.embedding.close();
  }
}
