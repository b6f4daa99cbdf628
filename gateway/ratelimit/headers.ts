import type { LimitSnapshot } from "./usage-window.ts";

/** Mistral's rate-limit headers; a limit the key does not have is not reported. */
export function rateLimitHeaders(snapshot: LimitSnapshot, cost = snapshot.cost): Record<string, string> {
  const headers: Record<string, string> = { "x-ratelimit-tokens-query-cost": String(cost) };
  const { rpm, tpm, monthly_token_budget } = snapshot.limits;
  if (rpm !== null) {
    headers["x-ratelimit-limit-req-minute"] = String(rpm);
    headers["x-ratelimit-remaining-req-minute"] = String(snapshot.remainingRequests);
  }
  if (tpm !== null) {
    headers["x-ratelimit-limit-tokens-minute"] = String(tpm);
    headers["x-ratelimit-remaining-tokens-minute"] = String(snapshot.remainingTokens);
  }
  if (monthly_token_budget !== null) {
    headers["x-ratelimit-limit-tokens-month"] = String(monthly_token_budget);
    headers["x-ratelimit-remaining-tokens-month"] = String(snapshot.remainingMonthTokens);
  }
  if (snapshot.budget) {
    headers["x-ratelimit-limit-budget"] = String(snapshot.budget.limit);
    headers["x-ratelimit-remaining-budget"] = String(roundMoney(snapshot.budget.remaining));
  }
  return headers;
}

/** Spend is a sum of small float products; six decimals are finer than any price. */
export function roundMoney(amount: number): number {
  return Math.round(amount * 1e6) / 1e6;
}
