import { ggmlTypes, isQuantized, type GgmlQuantType } from "../../../backend/engine/checkpoint/gguf/ggml-types.ts";
import { randomBlocks } from "./ggml-random-blocks.ts";
import { writeGguf } from "./gguf-writer.ts";

/** Every quantised type moxie reads. */
export const quantTypes: GgmlQuantType[] = Object.keys(ggmlTypes).filter(isQuantized);

/** Rows and row length of each tensor of the every-type file: two 256-blocks per row, for the K-quants. */
export const EVERY_TYPE_DIMS = [512, 3] as const;

/**
 * A GGUF holding one [3, 512] tensor of random blocks per quantised type, named after the type.
 * Its dequantisation by gguf-py is test/node/gguf-golden.json (bench/gguf-golden.py made it).
 */
export async function writeEveryTypeGguf(path: string): Promise<void> {
  const [cols, rows] = EVERY_TYPE_DIMS;
  await writeGguf(path, {
    metadata: [["general.architecture", "string", "llama"]],
    tensors: quantTypes.map((type) => ({
      name: type,
      type,
      dims: EVERY_TYPE_DIMS,
      data: randomBlocks(type, (cols / ggmlTypes[type].block) * rows, ggmlTypes[type].id),
    })),
  });
}
