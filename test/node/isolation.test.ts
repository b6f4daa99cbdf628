import { expect, it } from "vitest";
import { runIsolation } from "../../bench/isolation.ts";

// bench/isolation.ts at CI size: one key attacks the real stack while another streams. Latency is
// reported (bench/RESULTS.md), not asserted; what must hold whatever the machine is asserted here.
it("one key's attacks leave another's streams, cache and JSON mode intact", async () => {
  const report = await runIsolation({ victimStreams: 1, flood: 24 });
  console.log(JSON.stringify(report));
  for (const attack of Object.values(report.attacks)) expect(attack.failed).toBe(0);
  expect(report.baseline.failed).toBe(0);
  expect(report.cacheProbe.attackerCachedTokens).toBe(0);
  expect(report.cacheProbe.victimCachedTokens).toBeGreaterThan(0);
  expect(report.jsonModeAfterAttacks).toBe(true);
  // Each request reserves its worst case, so concurrent requests cannot spend past the budget.
  expect(report.budget.spent).toBeLessThanOrEqual(report.budget.budget);
  expect(report.budget.admitted).toBeGreaterThan(0);
  // Every schema bomb is refused up front (400), none answered or left to fail mid-stream.
  expect(report.attacks["schema bombs"].attackStatuses).toEqual({ 400: 30 });
  expect(Object.keys(report.attacks["one-character floods"].attackStatuses)).toEqual(["400"]);
}, 300_000);
