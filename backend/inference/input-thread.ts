import { parentPort, workerData } from "node:worker_threads";
import { asRequestError } from "../request-error.ts";
import { loadTokenizer } from "../text/tokenizer.ts";
import { InputProcessor } from "./input-processor.ts";
import type { FromInputThread, ToInputThread } from "./messages.ts";

/**
 * The input thread: tokenizes requests (chat encoding, embedding inputs) off the inference thread,
 * as vLLM tokenizes in its API server, not in the engine core. Tokenizing costs up to ~10 µs a
 * character on adversarial text (one long word), which on the inference thread would pause every
 * running stream; here it delays only the requests queued behind it.
 */
const tokenizer = await loadTokenizer((workerData as { model: string }).model);
let inputs: InputProcessor | undefined;

function answer(message: Exclude<ToInputThread, { type: "model" }>): FromInputThread {
  const processor = inputs!;
  try {
    return message.type === "chat"
      ? { type: "chat", id: message.id, input: processor.chat(message.request, message.tenant) }
      : { type: "embed", id: message.id, sequences: processor.embeddingInputs(message.inputs) };
  } catch (error) {
    return { type: "refused", id: message.id, error: asRequestError(error).data };
  }
}

// The model's limits come first, once the inference thread has loaded it; requests only after.
parentPort!.on("message", (message: ToInputThread) => {
  if (message.type !== "model") return parentPort!.postMessage(answer(message));
  const { contextLength, embeddingLength, vocabSize } = message.model;
  inputs = new InputProcessor(tokenizer, contextLength, embeddingLength, vocabSize);
});
