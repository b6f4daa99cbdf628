import { abortAllDurableObjects } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NO_LIMITS, type KeyLimits } from "../../worker/auth/key-record.ts";
import { keyLimiter } from "../../worker/ratelimit/key-limiter.ts";
import { budgetPeriodOf } from "../../worker/ratelimit/spend-budget.ts";
import type { Decision } from "../../worker/ratelimit/usage-window.ts";

/** The key's real Durable Object, called over RPC as the gateway calls it; time is moved with vitest's fake Date. */
const limiterFor = (name: string) => keyLimiter(env, `spend-test-${name}`);
const admitted = (decisions: Decision[]) =>
  decisions.filter((decision): decision is Extract<Decision, { admitted: true }> => decision.admitted);

describe("money budgets in the key's Durable Object", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("admits concurrent requests at the budget edge with no overshoot beyond one request's reservation", async () => {
    const limiter = limiterFor("edge");
    const limits: KeyLimits = { ...NO_LIMITS, max_budget: 1, budget_period: "day" };
    // Each request reserves 0.3: 0, 0.3, 0.6 and 0.9 are below 1, so exactly four are admitted (1.2 reserved).
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.reserve(limits, 10, 0.3)));
    const admittedNow = admitted(decisions);
    expect(admittedNow).toHaveLength(4);
    const refusal = decisions.find((decision) => !decision.admitted)!;
    expect(refusal).toMatchObject({
      admitted: false,
      reason: "spend",
      snapshot: { budget: { limit: 1, remaining: 0, period: "day" } },
    });
    const secondsToMidnight = (Date.parse(budgetPeriodOf("day", Date.now()).end!) - Date.now()) / 1000;
    expect(refusal.admitted ? 0 : refusal.retryAfterSeconds).toBeCloseTo(secondsToMidnight, -1);

    // Settling two at their real cost (0.1 each) frees budget: 1 - 0.2 - 2 × 0.3 = 0.2 left, so one more fits.
    await limiter.settle(admittedNow[0].reservation, 13, limits, 0.1);
    await limiter.settle(admittedNow[1].reservation, 13, limits, 0.1);
    const next = await Promise.all(Array.from({ length: 10 }, () => limiter.reserve(limits, 10, 0.3)));
    expect(admitted(next)).toHaveLength(1);
    expect(admitted(next)[0].snapshot.budget?.remaining).toBeCloseTo(0, 9);
  });

  it("starts each period at zero: a day's budget rolls over at midnight UTC, a week's on Monday", async () => {
    const limiter = limiterFor("rollover");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse("2026-12-02T23:59:58Z"));
    const daily: KeyLimits = { ...NO_LIMITS, max_budget: 0.5, budget_period: "day" };
    const first = await limiter.reserve(daily, 10, 0.2);
    expect(first.admitted).toBe(true);
    if (first.admitted) await limiter.settle(first.reservation, 10, daily, 0.6);
    const refused = await limiter.reserve(daily, 10, 0.2);
    expect(refused).toMatchObject({ admitted: false, reason: "spend", retryAfterSeconds: 2 });

    vi.setSystemTime(Date.parse("2026-12-03T00:00:01Z"));
    const nextDay = await limiter.reserve(daily, 10, 0.2);
    expect(nextDay).toMatchObject({ admitted: true, snapshot: { budget: { limit: 0.5, remaining: 0.3 } } });

    // A request admitted in one period and settled in the next charges the new period nothing.
    const weekly: KeyLimits = { ...NO_LIMITS, max_budget: 1, budget_period: "week" };
    vi.setSystemTime(Date.parse("2026-12-06T23:59:59Z")); // a Sunday
    const lateSunday = await limiter.reserve(weekly, 10, 0.9);
    expect(lateSunday.admitted).toBe(true);
    vi.setSystemTime(Date.parse("2026-12-07T00:00:05Z")); // Monday
    if (lateSunday.admitted) await limiter.settle(lateSunday.reservation, 10, weekly, 5);
    expect(await limiter.reserve(weekly, 10, 0.9)).toMatchObject({
      admitted: true,
      snapshot: { budget: { remaining: expect.closeTo(0.1, 9) } },
    });
  });

  it("keeps the spend across a restart of the object, and a lifetime budget never rolls over", async () => {
    const limiter = limiterFor("lifetime");
    const lifetime: KeyLimits = { ...NO_LIMITS, max_budget: 0.25, budget_period: null };
    const first = await limiter.reserve(lifetime, 10, 0.1);
    if (first.admitted) await limiter.settle(first.reservation, 10, lifetime, 0.3);
    // Drop the in-memory object: what it reads back from storage must still refuse.
    await abortAllDurableObjects();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 400 * 86_400_000);
    expect(await limiterFor("lifetime").reserve(lifetime, 10, 0.1)).toMatchObject({
      admitted: false,
      reason: "spend",
      snapshot: { budget: { remaining: 0, period: null } },
    });
  });

  it("still enforces the monthly token budget beside the money budget", async () => {
    const limiter = limiterFor("tokens");
    const limits: KeyLimits = { ...NO_LIMITS, monthly_token_budget: 100, max_budget: 1000, budget_period: "month" };
    const first = await limiter.reserve(limits, 60, 0.01);
    const second = await limiter.reserve(limits, 60, 0.01);
    expect([first.admitted, second.admitted]).toEqual([true, true]);
    expect(await limiter.reserve(limits, 60, 0.01)).toMatchObject({ admitted: false, reason: "budget" });
  });
});
