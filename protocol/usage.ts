import * as z from "zod";

/** Token counts of one request; shared by chat completions and embeddings. */
export const UsageInfo = z.object({
  prompt_tokens: z.int().min(0),
  completion_tokens: z.int().min(0),
  total_tokens: z.int().min(0),
});
export type UsageInfo = z.infer<typeof UsageInfo>;
