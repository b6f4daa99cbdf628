import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../gateway-env.ts";

/** One JSON line per request. It names the key by id only: no key, no Authorization header. */
export function accessLog(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const started = Date.now();
    await next();
    console.log(
      JSON.stringify({
        request_id: c.var.requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        key_id: c.var.apiKey?.id ?? null,
        ms: Date.now() - started,
      }),
    );
  };
}
