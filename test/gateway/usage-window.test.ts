import { describe, expect, it } from "vitest";
import { NO_LIMITS, type KeyLimits } from "../../gateway/auth/key-record.ts";
import { emptyWindow, UsageWindow, type Decision, type TokenAsk } from "../../gateway/ratelimit/usage-window.ts";

/** The window's own arithmetic, with time passed in; the Durable Object around it is covered by rate-limits.test.ts. */
const START = Date.UTC(2026, 5, 10, 12, 0, 0, 250);
const ask = (prompt: number, maxTokens = 0): TokenAsk => ({ prompt, choices: 1, maxTokens, context: 4096 });
const reservationOf = (decision: Decision) => {
  if (!decision.admitted) throw new Error(`refused: ${decision.reason}`);
  return decision.reservation;
};

describe("the per-second usage window", () => {
  it("admits exactly rpm requests in a minute and says when the oldest second frees one", () => {
    const window = new UsageWindow(emptyWindow(START));
    const limits: KeyLimits = { ...NO_LIMITS, rpm: 5 };
    for (let i = 0; i < 5; i++) expect(window.reserve(limits, ask(1), START + i * 10_000).admitted).toBe(true);

    const refusal = window.reserve(limits, ask(1), START + 45_000);
    // The first admission (12:00:00.250) counts until a minute after its second ends: 12:01:01.000.
    expect(refusal).toMatchObject({ admitted: false, reason: "requests", retryAfterSeconds: 16 });
    expect(window.reserve(limits, ask(1), START + 60_749).admitted).toBe(false);
    expect(window.reserve(limits, ask(1), START + 60_750).admitted).toBe(true);
    expect(window.snapshot(limits, 0).remainingRequests).toBe(0);
  });

  it("counts a reservation until it settles, then the tokens used, until the admitting second expires", () => {
    const window = new UsageWindow(emptyWindow(START));
    const limits: KeyLimits = { ...NO_LIMITS, tpm: 1000 };
    const long = reservationOf(window.reserve(limits, ask(100, 500), START));
    expect(window.snapshot(limits, 0).remainingTokens).toBe(400);
    expect(window.reserve(limits, ask(100, 400), START + 1000)).toMatchObject({ admitted: false, reason: "tokens" });

    window.settle(long, 120, START + 2000);
    expect(window.snapshot(limits, 0).remainingTokens).toBe(880);
    const late = reservationOf(window.reserve(limits, ask(100, 600), START + 3000));
    expect(window.snapshot(limits, 0).remainingTokens).toBe(180);

    // Still in flight two minutes later, the late reservation counts in full; the settled one has expired.
    window.reserve({ ...NO_LIMITS }, ask(0), START + 120_000);
    expect(window.snapshot(limits, 0).remainingTokens).toBe(300);
    // Settled after its second expired, it no longer weighs on the minute, but the month keeps it.
    window.settle(late, 650, START + 121_000);
    expect(window.snapshot(limits, 0).remainingTokens).toBe(1000);
    expect(window.data.monthTokens).toBe(120 + 650);
  });

  it("keeps its state the same size however many requests the minute admits", () => {
    const window = new UsageWindow(emptyWindow(START));
    const limits: KeyLimits = { ...NO_LIMITS, rpm: 1_000_000, tpm: 1_000_000_000 };
    for (let i = 0; i < 20_000; i++) {
      const now = START + i * 5;
      window.settle(reservationOf(window.reserve(limits, ask(10, 10), now)), 15, now);
    }
    expect(window.data.seconds.length).toBeLessThanOrEqual(61);
    expect(Object.keys(window.data.inflight)).toHaveLength(0);
    expect(JSON.stringify(window.data).length).toBeLessThan(4096);
    // 100 s of requests at 200 a second: the last 61 seconds (12:00:40 to 12:01:40.245) hold 12,050 of them.
    expect(window.snapshot(limits, 0).remainingRequests).toBe(1_000_000 - 12_050);
  });
});
