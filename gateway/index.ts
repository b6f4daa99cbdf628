import { Hono } from "hono";
import { openApiDocument } from "../protocol/index.ts";
import { admin } from "./admin/index.ts";
import { chatCompletions } from "./api/chat-completions.ts";
import { embeddings } from "./api/embeddings.ts";
import { listModels, retrieveModel } from "./api/models.ts";
import { serveConsole } from "./console.ts";
import { routeNotFound } from "../protocol/http/error-response.ts";
import { answerError, apiErrors } from "./api-errors.ts";
import type { GatewayEnv } from "./gateway-env.ts";
import { accessLog } from "./middleware/access-log.ts";
import { apiKeyAuth } from "./middleware/api-key-auth.ts";
import { bodyLimit } from "./middleware/body-limit.ts";
import { cors } from "./middleware/cors.ts";
import { refusalCounter } from "./middleware/refusal-counter.ts";
import { requestId } from "./middleware/request-id.ts";
import { traceContext } from "./tracing/trace-context.ts";
import { serveInference } from "./proxy/serve-inference.ts";
import { backendPool } from "./routing/backend-pool.ts";

export { KeyLimiter } from "./ratelimit/key-limiter.ts";
export { BackendPool } from "./routing/backend-pool.ts";
export { GatewayMetrics } from "./metrics/gateway-metrics.ts";

const app = new Hono<GatewayEnv>();

app.use(requestId(), traceContext(), accessLog(), cors());

// Public and unauthenticated: nothing secret in either.
app.get("/health", async (c) => {
  const backends = await backendPool(c.env).list();
  return c.json({
    status: "ok",
    backends: {
      total: backends.length,
      ready: backends.filter((backend) => backend.ready && !backend.draining).length,
    },
  });
});
app.get("/v1/openapi.json", (c) => c.json(openApiDocument()));

app.route("/admin", admin);
app.get("/console", (c) => c.redirect("/console/"));
app.get("/console/*", serveConsole);

// Authentication comes before the body is read: an unauthenticated client gets its 401 at once.
app.use("/v1/*", refusalCounter(), apiKeyAuth(), bodyLimit());
app.get("/v1/models", listModels);
app.get("/v1/models/:model_id", retrieveModel);
app.post("/v1/chat/completions", (c) => serveInference(c, chatCompletions));
app.post("/v1/embeddings", (c) => serveInference(c, embeddings));

app.notFound(routeNotFound);
app.onError((error, c) => {
  console.error(JSON.stringify({ request_id: c.var.requestId, error: error.message }));
  return answerError(c, apiErrors.internal());
});

export default app;
