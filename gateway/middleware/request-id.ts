import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../gateway-env.ts";

/** What a client's own request id may look like to be kept (as hono's requestId accepts it). */
const CLIENT_ID = /^[\w\-=]{1,255}$/;

/**
 * Every request gets the gateway's own id (a UUID, unique, in `x-request-id` and the usage row);
 * a sane `x-request-id` the client sent is kept next to it and echoed as `x-client-request-id`.
 */
export function requestId(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const id = crypto.randomUUID();
    const sent = c.req.header("x-request-id");
    const clientId = sent && CLIENT_ID.test(sent) ? sent : null;
    c.set("requestId", id);
    c.set("clientRequestId", clientId);
    c.header("x-request-id", id);
    if (clientId) c.header("x-client-request-id", clientId);
    await next();
  };
}
