import * as z from "zod";

/** Prices per million tokens in US dollars, the unit key budgets (max_budget) are set in and the console shows. */
export const ModelPrice = z.strictObject({
  input: z.number().nonnegative(),
  output: z.number().nonnegative(),
});

/** A public model name clients ask for, and the deployment (backend-side model id) that serves it. */
export const ModelDefinition = z.object({
  id: z.string().min(1),
  aliases: z.array(z.string().min(1)).default([]),
  deployment: z.string().min(1),
  type: z.enum(["chat", "embedding"]),
  max_context_length: z.number().int().positive(),
  /** Unpriced models cost nothing against money budgets. */
  price_per_million_tokens: ModelPrice.default({ input: 0, output: 0 }),
  /**
   * Other public models (ids or aliases) tried in order when no backend of this deployment can take
   * the request before the first byte (none healthy, 5xx, connection failure, open circuit).
   */
  fallbacks: z.array(z.string().min(1)).default([]),
  /** Also fall back when the backend refuses the prompt as longer than the context it serves. */
  fallback_on_context_overflow: z.boolean().default(false),
});
export type ModelDefinition = z.infer<typeof ModelDefinition>;

/** What a request's tokens cost at the model's price. */
export function costOf(
  model: Pick<ModelDefinition, "price_per_million_tokens">,
  promptTokens: number,
  completionTokens: number,
): number {
  const price = model.price_per_million_tokens;
  return (promptTokens * price.input + completionTokens * price.output) / 1_000_000;
}
