import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NO_LIMITS, type KeyLimits } from "../../gateway/auth/key-record.ts";
import { keyLimiter } from "../../gateway/ratelimit/key-limiter.ts";
import { budgetPeriodOf } from "../../gateway/ratelimit/spend-budget.ts";
import type { Decision } from "../../gateway/ratelimit/usage-window.ts";
import { restartKeyLimiter } from "./gateway-client.ts";

/** The key's real Durable Object, called over RPC as the gateway calls it; time is moved with vitest's fake Date. */
const keyIdOf = (name: string) => `spend-test-${name}`;
const limiterFor = (name: string) => keyLimiter(env, keyIdOf(name));
/** A request of `tokens` prompt tokens (no completion) priced so that it reserves `estimate` in money. */
const reserve = (limiter: ReturnType<typeof limiterFor>, limits: KeyLimits, estimate: number, tokens = 10) =>
  limiter.reserve(
    limits,
    { prompt: tokens, choices: 0, maxTokens: null, context: 4096 },
    { price_per_million_tokens: { input: (estimate * 1e6) / tokens, output: 0 } },
  );
const admitted = (decisions: Decision[]) =>
  decisions.filter((decision): decision is Extract<Decision, { admitted: true }> => decision.admitted);

describe("money budgets in the key's Durable Object", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("admits concurrent requests only while their worst case fits what the budget leaves: no overshoot", async () => {
    const limiter = limiterFor("edge");
    const limits: KeyLimits = { ...NO_LIMITS, max_budget: 1, budget_period: "day" };
    // Each request reserves 0.3: three fit in 1 (0.9 reserved), a fourth would pass it.
    const decisions = await Promise.all(Array.from({ length: 50 }, () => reserve(limiter, limits, 0.3, 10)));
    const admittedNow = admitted(decisions);
    expect(admittedNow).toHaveLength(3);
    // The requests in flight hold the rest: their settlement may free it, so ask again in a second.
    expect(decisions.find((decision) => !decision.admitted)).toMatchObject({
      admitted: false,
      reason: "spend",
      retryAfterSeconds: 1,
      snapshot: { budget: { limit: 1, remaining: expect.closeTo(0.1, 9), period: "day", cost: 0.3 } },
    });

    // Two settled at their real cost (0.1 each), one still in flight: 1 - 0.2 - 0.3 = 0.5 left, so one more fits.
    await limiter.settle(admittedNow[0].reservation, 13, limits, 0.1);
    await limiter.settle(admittedNow[1].reservation, 13, limits, 0.1);
    const next = await Promise.all(Array.from({ length: 10 }, () => reserve(limiter, limits, 0.3, 10)));
    expect(admitted(next)).toHaveLength(1);
    expect(admitted(next)[0].snapshot.budget?.remaining).toBeCloseTo(0.2, 9);

    // Once settled spend alone leaves too little, only the next period helps.
    await limiter.settle(admittedNow[2].reservation, 13, limits, 0.5);
    await limiter.settle(admitted(next)[0].reservation, 13, limits, 0.1);
    const refusal = await reserve(limiter, limits, 0.3, 10);
    const secondsToMidnight = (Date.parse(budgetPeriodOf("day", Date.now()).end!) - Date.now()) / 1000;
    expect(refusal.admitted ? 0 : refusal.retryAfterSeconds).toBeCloseTo(secondsToMidnight, -1);
  });

  it("reserves n × max_tokens at the output price, and an unset max_tokens as the context's remainder, capped to what is left", async () => {
    const limiter = limiterFor("worst-case");
    const limits: KeyLimits = { ...NO_LIMITS, max_budget: 10, budget_period: "day" };
    // 1 per million input tokens, 1000 per million output tokens: 0.001 per completion token.
    const pricing = { price_per_million_tokens: { input: 1, output: 1000 } };
    const ask = (choices: number, maxTokens: number | null) =>
      limiter.reserve(limits, { prompt: 100, choices, maxTokens, context: 32_768 }, pricing);

    // n = 16 × max_tokens 1000 may cost 16.0001: more than the whole budget, so 400 at once, never 429.
    expect(await ask(16, 1000)).toMatchObject({
      admitted: false,
      reason: "spend",
      retryAfterSeconds: null,
      snapshot: { budget: { cost: expect.closeTo(16.0001, 9) } },
    });
    // n = 4 × 1000 fits (4.0001), twice; a third would pass the budget.
    const fitting = [await ask(4, 1000), await ask(4, 1000), await ask(4, 1000)];
    expect(fitting.map((decision) => decision.admitted)).toEqual([true, true, false]);
    // Unset, max_tokens would reserve the context's remainder (32,668 tokens, 32.67): capped to the 1.9998 left.
    const capped = await ask(1, null);
    expect(capped).toMatchObject({ admitted: true, maxTokens: 1999 });
    expect(capped.snapshot.budget?.remaining).toBeCloseTo(10 - 2 * 4.0001 - (0.0001 + 1.999), 9);
    // Nothing left for even one token: refused until the requests in flight settle.
    expect(await ask(1, null)).toMatchObject({ admitted: false, reason: "spend", retryAfterSeconds: 1 });
  });

  it("starts each period at zero: a day's budget rolls over at midnight UTC, a week's on Monday", async () => {
    const limiter = limiterFor("rollover");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse("2026-12-02T23:59:58Z"));
    const daily: KeyLimits = { ...NO_LIMITS, max_budget: 0.5, budget_period: "day" };
    const first = await reserve(limiter, daily, 0.2, 10);
    expect(first.admitted).toBe(true);
    if (first.admitted) await limiter.settle(first.reservation, 10, daily, 0.6);
    const refused = await reserve(limiter, daily, 0.2, 10);
    expect(refused).toMatchObject({ admitted: false, reason: "spend", retryAfterSeconds: 2 });

    vi.setSystemTime(Date.parse("2026-12-03T00:00:01Z"));
    const nextDay = await reserve(limiter, daily, 0.2, 10);
    expect(nextDay).toMatchObject({ admitted: true, snapshot: { budget: { limit: 0.5, remaining: 0.3 } } });

    // A request admitted in one period and settled in the next charges the new period nothing.
    const weekly: KeyLimits = { ...NO_LIMITS, max_budget: 1, budget_period: "week" };
    vi.setSystemTime(Date.parse("2026-12-06T23:59:59Z")); // a Sunday
    const lateSunday = await reserve(limiter, weekly, 0.9, 10);
    expect(lateSunday.admitted).toBe(true);
    vi.setSystemTime(Date.parse("2026-12-07T00:00:05Z")); // Monday
    if (lateSunday.admitted) await limiter.settle(lateSunday.reservation, 10, weekly, 5);
    expect(await reserve(limiter, weekly, 0.9, 10)).toMatchObject({
      admitted: true,
      snapshot: { budget: { remaining: expect.closeTo(0.1, 9) } },
    });
  });

  it("keeps the spend across a restart of the object, and a lifetime budget never rolls over", async () => {
    const limiter = limiterFor("lifetime");
    const lifetime: KeyLimits = { ...NO_LIMITS, max_budget: 0.25, budget_period: null };
    const first = await reserve(limiter, lifetime, 0.1, 10);
    if (first.admitted) await limiter.settle(first.reservation, 10, lifetime, 0.3);
    // Drop the in-memory object: what it reads back from storage must still refuse.
    await restartKeyLimiter(keyIdOf("lifetime"));
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 400 * 86_400_000);
    expect(await reserve(limiterFor("lifetime"), lifetime, 0.1, 10)).toMatchObject({
      admitted: false,
      reason: "spend",
      snapshot: { budget: { remaining: 0, period: null } },
    });
  });

  it("still enforces the monthly token budget beside the money budget", async () => {
    const limiter = limiterFor("tokens");
    const limits: KeyLimits = { ...NO_LIMITS, monthly_token_budget: 100, max_budget: 1000, budget_period: "month" };
    const first = await reserve(limiter, limits, 0.01, 40);
    const second = await reserve(limiter, limits, 0.01, 40);
    expect([first.admitted, second.admitted]).toEqual([true, true]);
    expect(await reserve(limiter, limits, 0.01, 40)).toMatchObject({ admitted: false, reason: "budget" });
  });
});
