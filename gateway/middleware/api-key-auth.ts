import type { MiddlewareHandler } from "hono";
import { hashApiKey } from "../auth/api-key.ts";
import { bearerToken } from "../../protocol/bearer.ts";
import { lookupKey } from "../auth/key-cache.ts";
import { errorResponse } from "../../protocol/http/error-response.ts";
import type { GatewayEnv } from "../gateway-env.ts";

/**
 * `Authorization: Bearer <api key>`. The key is looked up by its SHA-256, so the comparison is
 * an index lookup on a hash, which reveals nothing about the stored keys through timing.
 */
export function apiKeyAuth(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const key = bearerToken(c.req.header("authorization"));
    if (!key)
      return errorResponse(c, 401, "Missing API key: send Authorization: Bearer <key>", "authentication_error", {
        code: "missing_api_key",
      });
    const record = await lookupKey(c.env.DB, await hashApiKey(key));
    if (!record || record.revoked_at !== null)
      return errorResponse(c, 401, "Invalid or revoked API key", "authentication_error", { code: "invalid_api_key" });
    // Checked against the clock on every request, so a cached record cannot outlive its expiry.
    if (record.expires_at !== null && Date.parse(record.expires_at) <= Date.now()) {
      return errorResponse(c, 401, `This API key expired at ${record.expires_at}`, "authentication_error", {
        code: "expired_api_key",
      });
    }
    c.set("apiKey", record);
    await next();
  };
}
