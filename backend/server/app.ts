import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { IDLE_LOAD, type BackendHealth } from "../../protocol/health.ts";
import { modelCard, type ModelList } from "../../protocol/models.ts";
import { requireSecret } from "./auth.ts";
import type { Backend } from "./backend.ts";
import { chatCompletions } from "./chat-completions.ts";
import { embeddings } from "./embeddings.ts";
import { limitBody, routeNotFound } from "../../protocol/http/error-response.ts";
import { RequestError } from "../request-error.ts";
import { requestErrorResponse } from "./request-error-answers.ts";
import { traced } from "./tracing.ts";

/** The backend's HTTP API: Mistral's public routes plus /health (load, for the gateway's router) and /metrics. */
export function createApp(backend: Backend): Hono {
  const app = new Hono();
  const started = Math.floor(Date.now() / 1000);
  // The gateway's x-request-id comes back on the answer (a new one when absent), to trace a request across both.
  app.use("*", requestId());

  app.get("/health", (c) => {
    const { model, status, fault } = backend.client;
    const body = {
      status: fault ? "failed" : model ? "ready" : "loading",
      ...(fault && { reason: fault }),
      models: backend.modelIds,
      ...(status ?? IDLE_LOAD),
      max_context_length: model?.contextLength ?? null,
      function_calling: model?.functionCalling ?? false,
    } satisfies BackendHealth;
    return c.json(body, model && !fault ? 200 : 503);
  });

  if (backend.secret !== undefined) app.use("*", requireSecret(backend.secret));
  app.use("*", limitBody(backend.maxBodyBytes));

  app.get("/metrics", async (c) => {
    c.header("Content-Type", backend.metrics.registry.contentType);
    return c.body(await backend.metrics.registry.metrics());
  });

  app.get("/v1/models", (c) => {
    const [id, ...aliases] = backend.modelIds;
    const list: ModelList = {
      object: "list",
      data: [
        modelCard({
          id,
          aliases,
          maxContextLength: backend.client.model?.contextLength ?? 1,
          chat: true,
          functionCalling: backend.client.model?.functionCalling ?? false,
          created: started,
          description: null,
        }),
      ],
    };
    return c.json(list);
  });

  app.post("/v1/chat/completions", traced(backend.tracing, "chat"), chatCompletions(backend));
  app.post("/v1/embeddings", traced(backend.tracing, "embeddings"), embeddings(backend));

  app.notFound(routeNotFound);
  // A refusal thrown anywhere in a route is answered by its reason; anything else is a bug, logged.
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    if (error instanceof RequestError) return requestErrorResponse(c, error);
    console.error(`request ${c.get("requestId")}:`, error);
    return requestErrorResponse(c, new RequestError("internal", "Internal error."));
  });
  return app;
}
