import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Mixtral's tokenizer files and Mistral's reference encodings (read-only, beside the project). */
export const reference = "../shared/reference";

/** Text → ids as SentencePiece encodes them (`[1] + sp.encode(text)`). */
export const golden: { text: string; ids: number[] }[] = readFileSync(
  join(reference, "tokenizer_golden_sample.jsonl"),
  "utf8",
)
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line));

/** A chat request and the ids mistral-common's InstructTokenizerV1 gives it. */
export const chatSample: { request: { messages: unknown[] }; ids: number[] } = JSON.parse(
  readFileSync(join(reference, "chat-v1-sample.json"), "utf8"),
);

export const referenceFile = (name: string) => readFileSync(join(reference, name), "utf8");
