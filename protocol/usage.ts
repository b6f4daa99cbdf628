import * as z from "zod";

/** Token counts of one request; shared by chat completions and embeddings. */
export const UsageInfo = z.object({
  prompt_tokens: z.int().min(0),
  completion_tokens: z.int().min(0),
  total_tokens: z.int().min(0),
  /**
   * Extension (as OpenAI's and vLLM's responses have it): `cached_tokens` = prompt tokens served
   * from the backend's prefix cache instead of being computed again. Absent where not known.
   */
  prompt_tokens_details: z.object({ cached_tokens: z.int().min(0) }).optional(),
});
export type UsageInfo = z.infer<typeof UsageInfo>;
