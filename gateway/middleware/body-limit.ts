import type { MiddlewareHandler } from "hono";
import { limitBody } from "../../protocol/http/error-response.ts";
import { gatewayConfig } from "../config.ts";
import type { GatewayEnv } from "../gateway-env.ts";

/** Refuses bodies over MAX_BODY_BYTES with 413, whether announced by content-length or streamed. */
export function bodyLimit(): MiddlewareHandler<GatewayEnv> {
  return (c, next) => limitBody(gatewayConfig(c.env).maxBodyBytes)(c, next);
}
