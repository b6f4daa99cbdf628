import type { ApiKeyRecord, BudgetPeriod } from "../auth/key-record.ts";
import { budgetPeriodOf } from "../ratelimit/spend-budget.ts";
import type { KeyActivity } from "./key-activity.ts";

export interface PeriodSpend {
  period: string;
  start: string | null;
  end: string | null;
  spend: number;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
}

/**
 * A key's recorded spend (usage rows, each priced when it was recorded) per period: the key's
 * budget_period unless another is asked for, else per month; and where the current period stands
 * against max_budget. Requests still in flight are not recorded yet, so the limiter may hold a
 * little more than this shows.
 */
export async function spendPerPeriod(
  db: D1Database,
  key: ApiKeyRecord,
  query: { period?: BudgetPeriod; since?: string; until?: string },
) {
  const { results } = await db
    .prepare(
      `SELECT substr(created_at, 1, 10) AS day, SUM(cost) AS spend, COUNT(*) AS requests,
              SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens
       FROM usage WHERE key_id = ?1 AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR substr(created_at, 1, 10) <= ?3)
       GROUP BY day ORDER BY day`,
    )
    .bind(key.id, query.since ?? null, query.until ?? null)
    .all<{ day: string; spend: number; requests: number; prompt_tokens: number; completion_tokens: number }>();
  const period = query.period ?? key.limits.budget_period;
  const periods = new Map<string, PeriodSpend>();
  for (const row of results) {
    const bounds = budgetPeriodOf(period ?? "month", Date.parse(row.day));
    const entry = periods.get(bounds.period) ?? {
      ...bounds,
      spend: 0,
      requests: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
    };
    entry.spend += row.spend;
    entry.requests += row.requests;
    entry.prompt_tokens += row.prompt_tokens;
    entry.completion_tokens += row.completion_tokens;
    periods.set(bounds.period, entry);
  }
  const [{ current_spend }] = await withActivity(db, [key]);
  return {
    key_id: key.id,
    max_budget: key.limits.max_budget,
    budget_period: key.limits.budget_period,
    current: current_spend,
    data: [...periods.values()],
  };
}

/**
 * Each key with its activity, in one query whatever the number of keys: every key's period start
 * goes in as one JSON object (key id → start), so the usage index (key_id, created_at) answers
 * both the latest row and the period's sum per key. Requests still in flight are not recorded
 * yet, so the key's limiter may hold a little more than this shows.
 */
export async function withActivity(
  db: D1Database,
  keys: ApiKeyRecord[],
  now = Date.now(),
): Promise<(ApiKeyRecord & KeyActivity)[]> {
  const periods = new Map(keys.map((key) => [key.id, budgetPeriodOf(key.limits.budget_period, now)]));
  const starts = Object.fromEntries([...periods].map(([id, period]) => [id, period.start]));
  const { results } = await db
    .prepare(
      `SELECT w.key AS key_id,
              (SELECT MAX(created_at) FROM usage WHERE key_id = w.key) AS last_used_at,
              (SELECT TOTAL(cost) FROM usage WHERE key_id = w.key AND (w.value IS NULL OR created_at >= w.value)) AS spend
       FROM json_each(?1) AS w`,
    )
    .bind(JSON.stringify(starts))
    .all<{ key_id: string; last_used_at: string | null; spend: number }>();
  const byKey = new Map(results.map((row) => [row.key_id, row]));
  return keys.map((key) => {
    const row = byKey.get(key.id);
    const spend = row?.spend ?? 0;
    const budget = key.limits.max_budget;
    return {
      ...key,
      last_used_at: row?.last_used_at ?? null,
      current_spend: {
        ...periods.get(key.id)!,
        spend,
        remaining: budget === null ? null : Math.max(0, budget - spend),
      },
    };
  });
}
