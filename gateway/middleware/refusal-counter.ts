import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../gateway-env.ts";
import { gatewayMetrics } from "../metrics/gateway-metrics.ts";

/**
 * Counts requests refused before admission (401, 404, 422, 429 …) by status and code. They get no
 * log row, so no client, authenticated or not, can fill the log by being refused.
 */
export function refusalCounter(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    await next();
    if (c.var.admitted || c.res.status < 400) return;
    const counted = gatewayMetrics(c.env).refused(c.res.status, c.var.errorCode ?? null);
    c.executionCtx.waitUntil(counted.catch(() => {}));
  };
}
