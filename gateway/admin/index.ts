import { Hono } from "hono";
import type { GatewayEnv } from "../gateway-env.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { bodyLimit } from "../middleware/body-limit.ts";
import { gatewayMetrics } from "../metrics/gateway-metrics.ts";
import { adminBackends } from "./backends.ts";
import { adminDashboard } from "./dashboard.ts";
import { adminLogs } from "./logs.ts";
import { adminKeys } from "./keys.ts";
import { adminModels } from "./models.ts";
import { adminUsage } from "./usage.ts";

/** The admin API, mounted at /admin and guarded by ADMIN_TOKEN. */
export const admin = new Hono<GatewayEnv>()
  .use(adminAuth(), bodyLimit())
  .route("/keys", adminKeys)
  .route("/usage", adminUsage)
  .route("/backends", adminBackends)
  .route("/models", adminModels)
  .route("/logs", adminLogs)
  .route("/dashboard", adminDashboard)
  .get("/metrics", async (c) =>
    c.text(await gatewayMetrics(c.env).exposition(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }),
  );
