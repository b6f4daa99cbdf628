import * as z from "zod";

export const DashboardWindow = z.enum(["1h", "24h"]);
export const DashboardGrouping = z.enum(["model", "backend"]);

export const Bucket = z.object({
  start: z.string(),
  requests: z.int(),
  errors: z.int(),
  completion_tokens: z.int(),
});

export const GroupHealth = z.object({
  group: z.string(),
  requests: z.int(),
  errors: z.int(),
  prompt_tokens: z.int(),
  completion_tokens: z.int(),
  /** Nearest-rank percentiles of streamed requests' time to first token; null without one. */
  ttft_p50_ms: z.number().nullable(),
  ttft_p95_ms: z.number().nullable(),
  duration_p50_ms: z.number().nullable(),
  duration_p95_ms: z.number().nullable(),
  /** Streamed completion tokens per second of generation (after the first token). */
  output_tokens_per_second: z.number().nullable(),
});

/** GET /admin/dashboard's answer (gateway/admin/dashboard.ts). */
export const Dashboard = z.object({
  window: DashboardWindow,
  by: DashboardGrouping,
  since: z.string(),
  until: z.string(),
  bucket_seconds: z.int(),
  /** Only buckets with requests. */
  buckets: z.array(Bucket),
  groups: z.array(GroupHealth),
});
export type Dashboard = z.output<typeof Dashboard>;
