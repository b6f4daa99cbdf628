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
    REQUEST_ANALYTICS: AnalyticsEngineDataset;
    GATEWAY_METRICS: DurableObjectNamespace<import("./metrics/gateway-metrics.ts").GatewayMetrics>;
    /** Secret: bearer token of the /admin API. */
    ADMIN_TOKEN?: string;
    // The vars (wrangler.toml [vars]) are not typed here: they are read only through gatewayConfig (config.ts).
  }
}
interface Env extends Cloudflare.Env {}
