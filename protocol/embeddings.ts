import * as z from "zod";
import { UsageInfo } from "./usage.ts";

/** POST /v1/embeddings; unknown fields are refused like Mistral does. */
export const EmbeddingRequest = z.strictObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string()).min(1)]),
  encoding_format: z.enum(["float", "base64"]).default("float"),
  output_dimension: z.int().min(1).nullish(),
  output_dtype: z.enum(["float", "int8", "uint8", "binary", "ubinary"]).default("float"),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
export type EmbeddingRequest = z.infer<typeof EmbeddingRequest>;

export const EmbeddingData = z.object({
  object: z.literal("embedding"),
  /** Numbers, or base64 of little-endian float32s when `encoding_format` is base64. */
  embedding: z.union([z.array(z.number()), z.string()]),
  index: z.int().min(0),
});

export const EmbeddingResponse = z.object({
  id: z.string(),
  object: z.literal("list"),
  model: z.string(),
  data: z.array(EmbeddingData),
  usage: UsageInfo,
});
export type EmbeddingResponse = z.infer<typeof EmbeddingResponse>;

/**
 * The base64 wire form of an embedding: its float32 values, little-endian, as OpenAI's SDK
 * (which asks for base64 by default) decodes them. Written with btoa so it runs in workerd too.
 */
export function base64Embedding(vector: ArrayLike<number>): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i], true);
  // fromCharCode over 8 KiB at a time (under engines' argument limits): about 4x faster than byte by byte.
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x2000)
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x2000) as unknown as number[]);
  return btoa(binary);
}
