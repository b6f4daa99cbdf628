import { Hono, type Context } from "hono";
import * as z from "zod";
import { displayPrefix, generateApiKey, hashApiKey } from "../auth/api-key.ts";
import { forgetCachedKeys } from "../auth/key-cache.ts";
import { BudgetPeriod, CacheScope, KeyLimits, NO_LIMITS } from "../auth/key-record.ts";
import { getKey, insertKey, listKeys, revokeKey, updateKey } from "../auth/key-store.ts";
import { answerError, apiErrors } from "../api-errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { keyLimiter } from "../ratelimit/key-limiter.ts";
import { readBody } from "../../protocol/http/read-body.ts";
import { validate } from "../../protocol/index.ts";
import { spendPerPeriod, withActivity } from "./spend.ts";
import { day } from "./usage.ts";

const CreateKey = z.strictObject({
  name: z.string().min(1).max(200),
  models: z.array(z.string().min(1)).min(1).nullish(),
  /** Stored as UTC ISO 8601, whatever offset it was sent with. */
  expires_at: z.iso
    .datetime({ offset: true })
    .transform((time) => new Date(time).toISOString())
    .nullish(),
  cache_scope: CacheScope.nullish(),
  /** Keep this key's bodies in the request log (off unless asked; see LOG_BODY_RETENTION_HOURS). */
  log_bodies: z.boolean().optional(),
  ...KeyLimits.partial().shape,
});

const UpdateKey = CreateKey.partial();

const SpendQuery = z.strictObject({ period: BudgetPeriod.optional(), since: day.optional(), until: day.optional() });

/** /admin/keys: create (the key is shown once), list, get, update limits, revoke. */
export const adminKeys = new Hono<GatewayEnv>()
  .post("/", async (c) => {
    const parsed = await readBody(c, CreateKey);
    if ("response" in parsed) return parsed.response;
    const { name, models, expires_at, cache_scope, log_bodies, ...limits } = parsed.data;
    if (expires_at && isPast(expires_at)) return answerError(c, apiErrors.invalidExpiry(expires_at));
    const key = generateApiKey();
    const record = await insertKey(c.env.DB, {
      name,
      keyHash: await hashApiKey(key),
      keyPrefix: displayPrefix(key),
      expiresAt: expires_at ?? null,
      allowedModels: models ?? null,
      cacheScope: cache_scope ?? null,
      logBodies: log_bodies ?? false,
      limits: { ...NO_LIMITS, ...limits },
    });
    return c.json({ ...record, key }, 201);
  })
  // Listed and read with their last use and current spend, so the console's table needs one request.
  .get("/", async (c) => c.json({ data: await withActivity(c.env.DB, await listKeys(c.env.DB)) }))
  .get("/:id", async (c) => {
    const record = await getKey(c.env.DB, c.req.param("id"));
    return record ? c.json((await withActivity(c.env.DB, [record]))[0]) : notFound(c);
  })
  .patch("/:id", async (c) => {
    const parsed = await readBody(c, UpdateKey);
    if ("response" in parsed) return parsed.response;
    const { name, models, expires_at, cache_scope, log_bodies, ...limits } = parsed.data;
    if (expires_at && isPast(expires_at)) return answerError(c, apiErrors.invalidExpiry(expires_at));
    const record = await updateKey(c.env.DB, c.req.param("id"), {
      name,
      expiresAt: expires_at,
      allowedModels: models,
      cacheScope: cache_scope,
      logBodies: log_bodies,
      limits,
    });
    forgetCachedKeys();
    return record ? c.json(record) : notFound(c);
  })
  .get("/:id/spend", async (c) => {
    const record = await getKey(c.env.DB, c.req.param("id"));
    if (!record) return notFound(c);
    const query = validate(SpendQuery, c.req.query());
    if (!query.success) return c.json(query.error, 422);
    return c.json(await spendPerPeriod(c.env.DB, record, query.data));
  })
  .post("/:id/revoke", async (c) => {
    const record = await revokeKey(c.env.DB, c.req.param("id"));
    if (!record) return notFound(c);
    // The key's limiter refuses it from now on, in every location, whatever isolates still cache.
    await keyLimiter(c.env, record.id).revoke();
    forgetCachedKeys();
    return c.json(record);
  });

function isPast(time: string): boolean {
  return Date.parse(time) <= Date.now();
}

function notFound(c: Context<GatewayEnv>): Response {
  return answerError(c, apiErrors.keyNotFound(String(c.req.param("id"))));
}
