import type { Engine, ModelShape, SequenceChunk } from "../../../backend/engine/engine.ts";
import { argmax, Sampler } from "../../../backend/sampler/sampler.ts";
import { SeededRandom } from "../../../backend/sampler/random.ts";

/** The fake model: a row's logits are a pseudo-random function of every token before it. EOS never comes. */
export function fakeLogits(
  tokens: readonly number[],
  shape: Pick<ModelShape, "vocabSize" | "eosTokenId">,
): Float32Array {
  let hash = 0x811c9dc5;
  for (const token of tokens) hash = Math.imul(hash ^ token, 0x01000193) >>> 0;
  const random = new SeededRandom(hash);
  const logits = Float32Array.from({ length: shape.vocabSize }, () => 8 * random.next() - 4);
  logits[shape.eosTokenId] = -Infinity;
  return logits;
}

/** The fake model's greedy continuation of a prompt, computed without the scheduler: the reference a run must reproduce. */
export function fakeGreedy(prompt: readonly number[], count: number, shape: ModelShape): number[] {
  const tokens = [...prompt];
  for (let i = 0; i < count; i++) tokens.push(argmax(fakeLogits(tokens, shape)));
  return tokens.slice(prompt.length);
}

/**
 * A stand-in for the ONNX engine, for tests of the scheduler and the step loop: milliseconds a
 * step, no model. Its "KV pool" holds each position's token id, written through the chunk's block
 * table, and a row's logits (fakeLogits) are read back through it, so tokens come out as a run
 * alone would give them only if block tables, prefix-cache hits and fork copies are right. It
 * rejects a step with an empty chunk or a token outside the vocabulary, as the real engine does; it
 * records every step.
 */
export class FakeEngine implements Engine {
  readonly shape: ModelShape;
  readonly steps: SequenceChunk[][] = [];
  readonly transfers = { uploaded: 0, downloaded: 0 };
  readonly attentionReads = { gathered: 0, inPlace: 0 };
  private readonly pool: Int32Array;

  constructor(shape: Partial<ModelShape> = {}) {
    this.shape = {
      vocabSize: 64,
      hiddenSize: 8,
      contextLength: 64,
      maxEvaluationTokens: 64,
      blockSize: 4,
      kvBlocks: 64,
      kvBytesPerToken: 4,
      bosTokenId: 1,
      eosTokenId: 2,
      ...shape,
    };
    this.pool = new Int32Array(this.shape.kvBlocks * this.shape.blockSize).fill(-1);
  }

  async forward(chunks: SequenceChunk[]): Promise<(Float32Array | number)[]> {
    this.steps.push(chunks);
    for (const { tokens } of chunks) {
      if (tokens.length === 0) throw new Error("a chunk with no tokens");
      for (const token of tokens)
        if (!(token >= 0 && token < this.shape.vocabSize)) throw new Error(`token ${token} is not in the vocabulary`);
    }
    return chunks.map(({ blocks, past, tokens, draw }) => {
      tokens.forEach((token, i) => (this.pool[this.slot(blocks, past + i)] = token));
      const cached = Array.from({ length: past + tokens.length }, (_, p) => this.pool[this.slot(blocks, p)]);
      const logits = fakeLogits(cached, this.shape);
      if (!draw) return logits;
      const { temperature, uniform } = draw;
      return new Sampler({ temperature, topP: 1, seed: 0, presencePenalty: 0, frequencyPenalty: 0 }).sample(logits, {
        temperature,
        uniform,
      });
    });
  }

  private slot(blocks: number[], position: number): number {
    const { blockSize } = this.shape;
    const block = blocks[Math.floor(position / blockSize)];
    if (block === undefined) throw new Error(`position ${position} has no block`);
    return block * blockSize + (position % blockSize);
  }

  copyBlock(from: number, to: number): void {
    const { blockSize } = this.shape;
    this.pool.copyWithin(to * blockSize, from * blockSize, (from + 1) * blockSize);
  }

  async embed(): Promise<Float32Array[]> {
    throw new Error("the fake engine does not embed");
  }

  async close(): Promise<void> {}
}
