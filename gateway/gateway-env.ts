import type { ApiKeyRecord } from "./auth/key-record.ts";
import type { GatewaySpan } from "./tracing/trace-context.ts";

/** Hono's typing of this app: Worker bindings plus what middleware hands to handlers. */
export interface GatewayEnv {
  Bindings: Env;
  Variables: {
    /** The gateway's own id of the request. */
    requestId: string;
    /** The x-request-id the client sent, if any. */
    clientRequestId: string | null;
    apiKey: ApiKeyRecord;
    /** The gateway's span of the request (see tracing/trace-context.ts). */
    trace: GatewaySpan;
    /** Set once the request is admitted: from then on settlement, not the refusal counter, accounts for it. */
    admitted: boolean;
    /** The code of the error the gateway answered with, for the refusal counter. */
    errorCode: string | null;
  };
}
