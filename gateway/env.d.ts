// Ties `cloudflare:workers` typings (env, exports) to this worker's bindings and entry module.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.ts");
  }
  interface Env {
    DB: D1Database;
    /** The console's static files (console/), served under /console. */
    ASSETS: Fetcher;
    KEY_LIMITER: DurableObjectNamespace<import("./ratelimit/key-limiter.ts").KeyLimiter>;
    BACKEND_POOL: DurableObjectNamespace<import("./routing/backend-pool.ts").BackendPool>;
    /** Secret: bearer token of the /admin API. */
    ADMIN_TOKEN?: string;
    CORS_ORIGINS: string;
    MAX_BODY_BYTES: string;
    /** Concurrent requests a key without its own max_concurrent may have; empty = unlimited. */
    DEFAULT_KEY_CONCURRENCY: string;
    HEALTH_POLL_SECONDS: string;
    /** How long a backend's open circuit refuses traffic before a trial request. */
    BREAKER_COOLDOWN_SECONDS: string;
    /** A stream's headers, and then each of its chunks, must come from the backend within this. */
    UPSTREAM_IDLE_SECONDS: string;
    /** A non-streamed answer must be complete within this. */
    UPSTREAM_TIMEOUT_SECONDS: string;
    /** "true" lets the admin API register loopback backends (local setups only). */
    ALLOW_LOOPBACK_BACKENDS: string;
    /** JSON list of statically configured backends (see gateway/routing/backend.ts). */
    BACKENDS: string;
    /** JSON list of public models (see gateway/models/model-definition.ts). */
    MODELS: string;
  }
}
interface Env extends Cloudflare.Env {}
