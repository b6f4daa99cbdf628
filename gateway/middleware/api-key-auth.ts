import type { MiddlewareHandler } from "hono";
import { hashApiKey } from "../auth/api-key.ts";
import { bearerToken } from "../../protocol/bearer.ts";
import { lookupKey } from "../auth/key-cache.ts";
import { answerError, apiErrors } from "../api-errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";

/**
 * `Authorization: Bearer <api key>`. The key is looked up by its SHA-256, so the comparison is
 * an index lookup on a hash, which reveals nothing about the stored keys through timing.
 */
export function apiKeyAuth(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const key = bearerToken(c.req.header("authorization"));
    if (!key) return answerError(c, apiErrors.missingApiKey());
    const record = await lookupKey(c.env.DB, await hashApiKey(key));
    if (!record || record.revoked_at !== null) return answerError(c, apiErrors.invalidApiKey());
    // Checked against the clock on every request, so a cached record cannot outlive its expiry.
    if (record.expires_at !== null && Date.parse(record.expires_at) <= Date.now())
      return answerError(c, apiErrors.expiredApiKey(record.expires_at));
    c.set("apiKey", record);
    await next();
  };
}
