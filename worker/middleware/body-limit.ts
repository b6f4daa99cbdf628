import type { MiddlewareHandler } from "hono";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";
import { errorResponse } from "../errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";

/** Refuses bodies over MAX_BODY_BYTES with 413, whether announced by content-length or streamed. */
export function bodyLimit(): MiddlewareHandler<GatewayEnv> {
  return (c, next) => {
    const maxSize = Number(c.env.MAX_BODY_BYTES);
    return honoBodyLimit({
      maxSize,
      onError: (c) => errorResponse(c, 413, `Request body is larger than ${maxSize} bytes`, "invalid_request_error", {}, "body_too_large"),
    })(c, next);
  };
}
