import type { ApiKeyRecord } from "./auth/key-record.ts";

/** Hono's typing of this app: Worker bindings plus what middleware hands to handlers. */
export interface GatewayEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    apiKey: ApiKeyRecord;
  };
}
