import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { errorResponse } from "./errors.ts";

/**
 * `Authorization: Bearer <secret>` on every route it guards. Hand-written rather than hono's
 * bearerAuth because that one answers a malformed header with 400 and a plain-text body; here
 * every failure is a 401 in the API's error shape. Compared in constant time.
 */
export function requireSecret(secret: string): MiddlewareHandler {
  const expected = Buffer.from(secret);
  return async (c, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    const given = Buffer.from(match?.[1] ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      c.header("WWW-Authenticate", 'Bearer error="invalid_token"');
      return errorResponse(c, 401, "Unauthorized", "invalid_request_error", "unauthorized");
    }
    await next();
  };
}
