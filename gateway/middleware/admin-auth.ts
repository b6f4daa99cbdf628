import type { MiddlewareHandler } from "hono";
import { bearerToken } from "../../protocol/bearer.ts";
import { secretsEqual } from "../auth/constant-time.ts";
import { errorResponse } from "../../protocol/http/error-response.ts";
import type { GatewayEnv } from "../gateway-env.ts";

/** The admin API answers only to the ADMIN_TOKEN secret, compared in constant time. */
export function adminAuth(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const expected = c.env.ADMIN_TOKEN;
    if (!expected)
      return errorResponse(c, 503, "The admin API is disabled: set the ADMIN_TOKEN secret", "service_unavailable");
    const given = bearerToken(c.req.header("authorization"));
    if (!given || !(await secretsEqual(given, expected)))
      return errorResponse(c, 401, "Invalid admin token", "authentication_error");
    await next();
  };
}
