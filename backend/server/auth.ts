import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { bearerToken } from "../../protocol/bearer.ts";
import { RequestError } from "../request-error.ts";

/**
 * `Authorization: Bearer <secret>` on every route it guards. Hand-written rather than hono's
 * bearerAuth because that one answers a malformed header with 400 and a plain-text body; here
 * every failure is a 401 in the API's error shape. Both sides are hashed first, so the
 * constant-time comparison runs over equal lengths and reveals nothing of the secret's length.
 */
export function requireSecret(secret: string): MiddlewareHandler {
  const sha256 = (text: string) => createHash("sha256").update(text).digest();
  const expected = sha256(secret);
  return async (c, next) => {
    const given = bearerToken(c.req.header("authorization"));
    if (given === undefined || !timingSafeEqual(sha256(given), expected)) {
      c.header("WWW-Authenticate", 'Bearer error="invalid_token"');
      throw new RequestError("unauthorized", "Unauthorized");
    }
    await next();
  };
}
