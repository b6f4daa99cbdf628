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
  return headers;
}
