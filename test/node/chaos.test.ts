import { expect, it } from "vitest";
import { runChaos } from "../../bench/chaos.ts";

// bench/chaos.ts at CI size: the real stack (wrangler dev + two moxie serve on the tiny model), one
// backend SIGKILLed mid-way and restarted, random disconnects and malformed requests interleaved.
it("keeps the books under chaos: nothing hangs, one usage row, one log row and one count per admitted request, every slot comes back", async () => {
  const report = await runChaos({ streams: 16, malformed: 60, keys: 2, seed: 7, hangAfterMs: 60_000 });
  console.log(JSON.stringify(report));
  expect(report.streams.hung).toBe(0);
  expect(report.malformed.hung).toBe(0);
  expect(report.streams.completed + report.streams.properErrors + report.streams.clientAborted).toBe(16);
  expect(report.streams.completed).toBeGreaterThan(0);
  expect(report.malformed.properErrors).toBe(60);
  expect(report.undocumented5xx).toBe(0);
  expect(report.usageRows).toBe(report.admitted);
  expect(report.logRows).toBe(report.admitted);
  expect(report.countedRequests).toBe(report.admitted);
  expect(report.poolInflight).toBe(0);
  expect(report.keySlotsFree).toBe(true);
  expect(report.backendKilledAfterMs).toBeGreaterThan(0);
  // Charged from what the backends reported. A client that leaves while its request waits is charged
  // the prompt, which the backend never ran; one that leaves mid-answer is not charged the tokens its
  // backend made before the cancel arrived; a request whose backend died before answering is not
  // charged the prompt it may have prefilled. So the two differ by a few prompts.
  expect(Math.abs(report.tokensCharged - report.tokensProcessed)).toBeLessThan(0.15 * report.tokensProcessed);
}, 240_000);
