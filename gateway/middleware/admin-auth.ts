import type { MiddlewareHandler } from "hono";
import { bearerToken } from "../../protocol/bearer.ts";
import { secretsEqual } from "../auth/constant-time.ts";
import { answerError, apiErrors } from "../api-errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";

/** The admin API answers only to the ADMIN_TOKEN secret, compared in constant time. */
export function adminAuth(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const expected = c.env.ADMIN_TOKEN;
    if (!expected) return answerError(c, apiErrors.adminDisabled());
    const given = bearerToken(c.req.header("authorization"));
    if (!given || !(await secretsEqual(given, expected))) return answerError(c, apiErrors.invalidAdminToken());
    await next();
  };
}
