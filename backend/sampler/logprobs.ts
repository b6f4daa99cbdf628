import { logSumExp, topK } from "./logits.ts";

export interface TokenLogprobs {
  token: number;
  logprob: number;
  /** The most likely tokens at this position, most likely first. */
  top: { token: number; logprob: number }[];
}

/**
 * Log-probabilities of one position under the model's raw distribution (log-softmax of the
 * logits, before temperature, penalties or a grammar mask), as vLLM reports them by default.
 */
export function tokenLogprobs(logits: Float32Array, token: number, top: number): TokenLogprobs {
  const norm = logSumExp(logits);
  return {
    token,
    logprob: logits[token] - norm,
    top: top === 0 ? [] : topK(logits, top).map((id) => ({ token: id, logprob: logits[id] - norm })),
  };
}
