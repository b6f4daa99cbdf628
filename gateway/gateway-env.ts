import type { ApiKeyRecord } from "./auth/key-record.ts";

/** Hono's typing of this app: Worker bindings plus what middleware hands to handlers. */
export interface GatewayEnv {
  Bindings: Env;
  Variables: {
    /** The gateway's own id of the request. */
    requestId: string;
    /** The x-request-id the client sent, if any. */
    clientRequestId: string | null;
    apiKey: ApiKeyRecord;
  };
}
