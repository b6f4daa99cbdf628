import * as z from "zod";

/** Token counts of one request; shared by chat completions and embeddings. */
export const UsageInfo = z.object({
  prompt_tokens: z.int().min(0),
  completion_tokens: z.int().min(0),
  total_tokens: z.int().min(0),
});
export type UsageInfo = z.infer<typeof UsageInfo>;

/**
 * Response header in which a moxie backend reports the prompt's token count as soon as it is
 * known, so a stream cut short before its usage chunk is still charged the prompt it really cost.
 */
export const PROMPT_TOKENS_HEADER = "x-moxie-prompt-tokens";
