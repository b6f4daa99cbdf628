import { Hono } from "hono";
import * as z from "zod";
import { validate } from "../../protocol/index.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { Bucket, DashboardGrouping, DashboardWindow, GroupHealth, type Dashboard } from "../logs/dashboard-answer.ts";

/** The windows the dashboard shows, and the width of each one's time buckets. */
const WINDOWS = {
  "1h": { seconds: 3600, bucketSeconds: 60 },
  "24h": { seconds: 86_400, bucketSeconds: 900 },
} as const;

/** What counts as an error: every status ≥ 400 but a client's own 499. */
const ERROR = "status >= 400 AND status <> 499";

/** The columns the health table groups by. */
const GROUPS = { model: "COALESCE(model_answered, model_asked)", backend: "COALESCE(backend_id, '')" } as const;

const DashboardQuery = z.strictObject({
  window: DashboardWindow.default("1h"),
  by: DashboardGrouping.default("model"),
});

/**
 * /admin/dashboard: request rate, errors (every status ≥ 400 but a client's own 499) and latency
 * over the last hour or day, per time bucket and per model or backend, from the request log (so it
 * reaches back as far as the log's retention).
 */
export const adminDashboard = new Hono<GatewayEnv>().get("/", async (c) => {
  const query = validate(DashboardQuery, c.req.query());
  if (!query.success) return c.json(query.error, 422);
  const window = WINDOWS[query.data.window];
  const now = Date.now();
  const since = new Date(now - window.seconds * 1000).toISOString();
  const group = GROUPS[query.data.by];
  const [buckets, groups] = await c.env.DB.batch([
    // D1 binds numbers as REAL: cast, or the division would not round down to the bucket.
    c.env.DB.prepare(
      `SELECT (CAST(strftime('%s', created_at) AS INTEGER) / CAST(?2 AS INTEGER)) * CAST(?2 AS INTEGER) AS epoch, COUNT(*) AS requests,
              SUM(${ERROR}) AS errors, SUM(completion_tokens) AS completion_tokens
       FROM request_log WHERE created_at >= ?1 GROUP BY epoch ORDER BY epoch`,
    ).bind(since, window.bucketSeconds),
    c.env.DB.prepare(
      `WITH w AS (SELECT ${group} AS grp, * FROM request_log WHERE created_at >= ?1),
       ranked AS (
         SELECT grp, ttft_ms, duration_ms,
                ROW_NUMBER() OVER (PARTITION BY grp, ttft_ms IS NULL ORDER BY ttft_ms) AS ttft_rank,
                COUNT(ttft_ms) OVER (PARTITION BY grp) AS ttft_n,
                ROW_NUMBER() OVER (PARTITION BY grp ORDER BY duration_ms) AS duration_rank,
                COUNT(*) OVER (PARTITION BY grp) AS n
         FROM w)
       SELECT t.grp AS "group", t.requests, t.errors, t.prompt_tokens, t.completion_tokens, t.output_tokens_per_second,
              p.ttft_p50_ms, p.ttft_p95_ms, p.duration_p50_ms, p.duration_p95_ms
       FROM (SELECT grp, COUNT(*) AS requests, SUM(${ERROR}) AS errors, SUM(prompt_tokens) AS prompt_tokens,
                    SUM(completion_tokens) AS completion_tokens,
                    SUM(CASE WHEN ttft_ms IS NOT NULL AND completion_tokens > 1 THEN completion_tokens - 1 END) * 1000.0 /
                      NULLIF(SUM(CASE WHEN ttft_ms IS NOT NULL AND completion_tokens > 1 THEN duration_ms - ttft_ms END), 0)
                      AS output_tokens_per_second
             FROM w GROUP BY grp) t
       JOIN (SELECT grp,
                    MIN(CASE WHEN ttft_ms IS NOT NULL AND ttft_rank >= 0.5 * ttft_n THEN ttft_ms END) AS ttft_p50_ms,
                    MIN(CASE WHEN ttft_ms IS NOT NULL AND ttft_rank >= 0.95 * ttft_n THEN ttft_ms END) AS ttft_p95_ms,
                    MIN(CASE WHEN duration_rank >= 0.5 * n THEN duration_ms END) AS duration_p50_ms,
                    MIN(CASE WHEN duration_rank >= 0.95 * n THEN duration_ms END) AS duration_p95_ms
             FROM ranked GROUP BY grp) p ON p.grp = t.grp
       ORDER BY t.requests DESC`,
    ).bind(since),
  ]);
  return c.json<Dashboard>({
    window: query.data.window,
    by: query.data.by,
    since,
    until: new Date(now).toISOString(),
    bucket_seconds: window.bucketSeconds,
    buckets: buckets.results.map((row) => {
      const { epoch, ...rest } = row as { epoch: number };
      return Bucket.parse({ start: new Date(epoch * 1000).toISOString(), ...rest });
    }),
    groups: groups.results.map((row) => GroupHealth.parse(row)),
  });
});
