/**
 * The key limiter's cost per request as a key's rate grows: a window already holding N admissions
 * from the last minute, then µs per reserve + settle and the bytes the Durable Object writes after
 * each (the whole window state, as key-limiter.ts stores it).
 *
 *   node --import tsx bench/limiter-bench.ts [--requests 100,1000,10000] [--json]
 */
import { parseScriptArgs } from "../cli/command.ts";
import { NO_LIMITS, type KeyLimits } from "../gateway/auth/key-record.ts";
import { emptyWindow, UsageWindow } from "../gateway/ratelimit/usage-window.ts";

const values = parseScriptArgs(
  {
    name: "bench/limiter-bench.ts",
    summary: "µs and bytes written per request by one key's usage window, by requests already in the minute",
    options: {
      requests: { type: "string", default: "100,1000,10000", description: "admissions in the window, comma-separated" },
      json: { type: "boolean", description: "one JSON object on stdout" },
    },
  },
  "node --import tsx",
);

const limits: KeyLimits = { ...NO_LIMITS, rpm: 10_000_000, tpm: 10_000_000_000, monthly_token_budget: 1e15 };
const ask = { prompt: 40, choices: 1, maxTokens: 200, context: 32_768 };
const MEASURED = 2000;

function measure(inWindow: number) {
  const start = Date.UTC(2026, 0, 1);
  const window = new UsageWindow(emptyWindow(start));
  // The admissions spread over the minute before the measured ones, settled as the gateway settles them.
  const spacing = 59_000 / inWindow;
  for (let i = 0; i < inWindow; i++) {
    const now = start + i * spacing;
    const decision = window.reserve(limits, ask, now);
    if (decision.admitted) window.settle(decision.reservation, 180, now);
  }
  let bytes = 0;
  const began = process.hrtime.bigint();
  for (let i = 0; i < MEASURED; i++) {
    // Each measured request retires one from the window's start, so the window keeps its size.
    const now = start + 60_000 + i * spacing;
    const decision = window.reserve(limits, ask, now);
    bytes += JSON.stringify(window.data).length;
    if (decision.admitted) window.settle(decision.reservation, 180, now);
    bytes += JSON.stringify(window.data).length;
  }
  const micros = Number(process.hrtime.bigint() - began) / 1000 / MEASURED;
  return { inWindow, microsPerRequest: micros, bytesWrittenPerRequest: bytes / MEASURED };
}

const rows = values.requests.split(",").map((count) => measure(Number(count)));
if (values.json) console.log(JSON.stringify({ rows }));
else
  for (const row of rows)
    console.log(
      `${row.inWindow} in window: ${row.microsPerRequest.toFixed(1)} µs/request (serialisation included), ` +
        `${(row.bytesWrittenPerRequest / 1024).toFixed(1)} KiB written/request`,
    );
