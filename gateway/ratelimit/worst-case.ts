import type { KeyLimits } from "../auth/key-record.ts";
import { costOf, type ModelDefinition } from "../models/model-definition.ts";
import type { RefusalReason, TokenAsk } from "./usage-window.ts";

/**
 * Spend is a sum of float products: a cost that fits exactly may exceed what is left by a rounding
 * error, so money comparisons allow this much (a billionth of the budget's unit).
 */
export const MONEY_TOLERANCE = 1e-9;

export type Pricing = Pick<ModelDefinition, "price_per_million_tokens">;

/** What the key's limits leave for one request now; Infinity where the key has no such limit. */
export interface Allowance {
  /** Tokens the minute (tpm) and the month (monthly_token_budget) leave. */
  tokens: number;
  /** Money the budget period leaves after the reservations in flight. */
  money: number;
}

/** The most a request can cost: what it reserves at admission, settled later to what it used. */
export interface WorstCase {
  /** The max_tokens each choice is held to: the client's, a cap the allowance sets on an unset one, or null (up to the context). */
  maxTokens: number | null;
  tokens: number;
  cost: number;
}

/**
 * The prompt's upper bound plus every choice's max_tokens, at the model's price. An unset max_tokens
 * may generate up to the context's remainder after the prompt; where that does not fit what the
 * limits leave it is capped to what does (and the cap is sent to the backend), so a request is cut
 * short rather than refused. The prompt bound overestimates the prompt, so the remainder may
 * underestimate the completion by that overestimate: the only way a request can cost more than it
 * reserved.
 */
export function worstCase(ask: TokenAsk, allowance: Allowance, pricing: Pricing): WorstCase {
  const fits = Math.max(1, affordable(ask, allowance, pricing));
  const maxTokens = ask.maxTokens ?? (fits < remainderOf(ask) ? fits : null);
  const completion = completionTokens({ ...ask, maxTokens });
  return { maxTokens, tokens: ask.prompt + completion, cost: costOf(pricing, ask.prompt, completion) };
}

/** The most tokens a request's choices generate together: max_tokens each, or (unset) the context's remainder. */
export function completionTokens(ask: TokenAsk): number {
  return ask.choices * (ask.maxTokens ?? remainderOf(ask));
}

function remainderOf(ask: TokenAsk): number {
  return Math.max(0, ask.context - ask.prompt);
}

/** Completion tokens per choice that fit the allowance beside the prompt (Infinity when nothing bounds them). */
function affordable(ask: TokenAsk, allowance: Allowance, pricing: Pricing): number {
  if (ask.choices === 0) return Infinity;
  const byTokens = (allowance.tokens - ask.prompt) / ask.choices;
  const perToken = costOf(pricing, 0, ask.choices);
  const byMoney =
    perToken === 0 ? Infinity : (allowance.money - costOf(pricing, ask.prompt, 0) + MONEY_TOLERANCE) / perToken;
  return Math.floor(Math.min(byTokens, byMoney));
}

/**
 * The limit a request exceeds on its own, whatever the key has used: retrying it can never help, so
 * it is answered 400 at once rather than 429 forever.
 */
export function limitExceeded(limits: KeyLimits, worst: WorstCase): RefusalReason | null {
  if (limits.tpm !== null && worst.tokens > limits.tpm) return "tokens";
  if (limits.monthly_token_budget !== null && worst.tokens > limits.monthly_token_budget) return "budget";
  if (limits.max_budget !== null && worst.cost > limits.max_budget + MONEY_TOLERANCE) return "spend";
  return null;
}
