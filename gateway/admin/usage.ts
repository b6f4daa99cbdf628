import { Hono } from "hono";
import * as z from "zod";
import { validate } from "../../protocol/index.ts";
import type { GatewayEnv } from "../gateway-env.ts";

/** A UTC day in a query (since, until). */
export const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a day as YYYY-MM-DD");
const UsageQuery = z.strictObject({ key_id: z.string().optional(), since: day.optional(), until: day.optional() });

/** /admin/usage: tokens, requests and spend (at the answering model's price) per key, model and UTC day. */
export const adminUsage = new Hono<GatewayEnv>().get("/", async (c) => {
  const query = validate(UsageQuery, c.req.query());
  if (!query.success) return c.json(query.error, 422);
  const { key_id, since, until } = query.data;
  const { results } = await c.env.DB.prepare(
    `SELECT key_id, substr(created_at, 1, 10) AS day, model, COUNT(*) AS requests,
            SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,
            SUM(prompt_tokens + completion_tokens) AS total_tokens, SUM(cost) AS cost
     FROM usage
     WHERE (?1 IS NULL OR key_id = ?1) AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR substr(created_at, 1, 10) <= ?3)
     GROUP BY key_id, day, model ORDER BY day, key_id, model`,
  )
    .bind(key_id ?? null, since ?? null, until ?? null)
    .all();
  return c.json({ data: results });
});
