import type { MiddlewareHandler } from "hono";
import { cors as honoCors } from "hono/cors";
import { gatewayConfig } from "../config.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { ANSWERING_MODEL_HEADER } from "../proxy/respond.ts";

/** CORS for browser clients; CORS_ORIGINS is "*" or a comma-separated list of origins. */
export function cors(): MiddlewareHandler<GatewayEnv> {
  return (c, next) => {
    const allowed = gatewayConfig(c.env).corsOrigins;
    return honoCors({
      origin: allowed.includes("*") ? "*" : allowed,
      allowHeaders: ["authorization", "content-type", "x-request-id"],
      exposeHeaders: [
        "x-request-id",
        "retry-after",
        "x-ratelimit-limit-req-minute",
        "x-ratelimit-remaining-req-minute",
        "x-ratelimit-limit-tokens-minute",
        "x-ratelimit-remaining-tokens-minute",
        "x-ratelimit-limit-tokens-month",
        "x-ratelimit-remaining-tokens-month",
        "x-ratelimit-tokens-query-cost",
        "x-client-request-id",
        "x-ratelimit-limit-budget",
        "x-ratelimit-remaining-budget",
        ANSWERING_MODEL_HEADER,
      ],
      maxAge: 600,
    })(c, next);
  };
}
