import type { Context } from "hono";
import { answerError, apiErrors } from "./api-errors.ts";
import type { GatewayEnv } from "./gateway-env.ts";

/**
 * The console is static files (console/, Workers static assets), not pages rendered with Hono JSX:
 * everything it shows comes from the admin API with the token the operator signs in with, which
 * stays in the browser (sessionStorage), so server rendering would have nothing to render without
 * the token; plain ES modules need no build step; and the worker stays the API it was.
 *
 * The worker runs first for every request (wrangler.toml) so that it alone adds these headers:
 * scripts and styles only from this origin (no inline script, no eval), requests only to this
 * origin, no framing, no referrer.
 */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cache-control": "no-cache",
};

/** GET /console/*: a file of console/, with the security headers. */
export async function serveConsole(c: Context<GatewayEnv>): Promise<Response> {
  const path = c.req.path.slice("/console".length) || "/";
  const asset = await c.env.ASSETS.fetch(new URL(path, c.req.url));
  if (asset.status === 404) return answerError(c, apiErrors.consoleFileNotFound(path));
  const response = new Response(asset.body, asset);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
  return response;
}
