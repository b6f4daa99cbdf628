import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";
import { IDLE_LOAD, type BackendHealth } from "../../../protocol/health.ts";
import { PROMPT_TOKENS_HEADER } from "../../../protocol/usage.ts";
import { collectSpans, type CollectedSpan, type OtlpTraces } from "./otlp-spans.ts";
import type { BackendBehaviour, BackendStats } from "./fake-backend-contract.ts";

const PROMPT_TOKENS = 10;

const defaults = (): BackendBehaviour => ({
  status: "ready",
  running: 0,
  waiting: 0,
  free_kv_slots: 64,
  models: ["mixtral-8x7b-instruct", "mistral-embed"],
  failNext: 0,
  failStatus: 503,
  hang: false,
  stallAfterDeltas: -1,
  keepaliveBeforeMs: 0,
  failAfterDeltas: -1,
  deltas: 3,
  delayMs: 5,
  healthRoute: true,
  secret: null,
  streamUsage: "finish",
  max_context_length: null,
  refuseContext: false,
});

/**
 * A real HTTP server speaking the backend contract (the public API plus GET /health with load),
 * for the gateway's tests. Each path prefix /b/<name> is an independent backend whose behaviour a
 * test sets through POST /b/<name>/__control and reads back through GET /b/<name>/__state.
 */
export function fakeBackendApp(): Hono {
  const backends = new Map<string, { behaviour: BackendBehaviour; stats: BackendStats }>();
  const backend = (name: string) => {
    let entry = backends.get(name);
    if (!entry) {
      entry = {
        behaviour: defaults(),
        stats: { requests: 0, completed: 0, aborted: 0, lastBody: null, lastRequestId: null, lastTraceparent: null },
      };
      backends.set(name, entry);
    }
    return entry;
  };

  const app = new Hono();
  app.post("/b/:name/__control", async (c) => {
    const entry = backend(c.req.param("name"));
    Object.assign(entry.behaviour, await c.req.json());
    return c.json(entry.behaviour);
  });
  app.get("/b/:name/__state", (c) => c.json(backend(c.req.param("name")).stats));
  // An OTLP/HTTP receiver (JSON encoding) for the spans the gateway exports.
  const spans: CollectedSpan[] = [];
  app.post("/otlp/v1/traces", async (c) => {
    spans.push(...collectSpans(await c.req.json<OtlpTraces>()));
    return c.json({});
  });
  app.get("/otlp/spans", (c) => c.json(spans.filter((span) => span.traceId === c.req.query("trace_id"))));
  app.get("/b/:name/health", (c) => {
    const { status, running, waiting, free_kv_slots, models, healthRoute, max_context_length } = backend(
      c.req.param("name"),
    ).behaviour;
    if (!healthRoute) return c.notFound();
    const body = {
      status,
      models,
      ...IDLE_LOAD,
      running,
      waiting,
      free_kv_slots,
      kv_slots: 64,
      kv_cache_blocks: 1024,
      free_kv_cache_blocks: 1024,
      grammar_ok: true,
      max_context_length,
      function_calling: false,
    } satisfies BackendHealth;
    return c.json(body);
  });

  app.use("/b/:name/v1/*", async (c, next) => {
    const { behaviour, stats } = backend(c.req.param("name"));
    if (behaviour.secret && c.req.header("authorization") !== `Bearer ${behaviour.secret}`) {
      return c.json(
        { object: "error", message: "bad backend secret", type: "authentication_error", param: null, code: null },
        401,
      );
    }
    if (c.req.method === "POST") {
      stats.requests += 1;
      stats.lastRequestId = c.req.header("x-request-id") ?? null;
      stats.lastTraceparent = c.req.header("traceparent") ?? null;
      if (behaviour.failNext > 0) {
        behaviour.failNext -= 1;
        const status = behaviour.failStatus as 500 | 502 | 503 | 504;
        return c.json(
          { object: "error", message: `failed with ${status}`, type: "backend_error", param: null, code: null },
          status,
          status === 503 ? { "retry-after": "1" } : {},
        );
      }
      if (behaviour.hang) {
        await new Promise((resolve) => c.req.raw.signal.addEventListener("abort", resolve, { once: true }));
        stats.aborted += 1;
        return c.body(null, 503);
      }
    }
    await next();
  });

  app.get("/b/:name/v1/models", (c) =>
    c.json({
      object: "list",
      data: backend(c.req.param("name")).behaviour.models.map((id) => ({
        id,
        object: "model",
        max_model_len: backend(c.req.param("name")).behaviour.max_context_length,
      })),
    }),
  );

  app.post("/b/:name/v1/embeddings", async (c) => {
    const { stats } = backend(c.req.param("name"));
    const body = await c.req.json<{ model: string; input: string | string[] }>();
    stats.lastBody = body;
    stats.completed += 1;
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    return c.json({
      id: "emb-1",
      object: "list",
      model: body.model,
      data: inputs.map((_, index) => ({ object: "embedding", embedding: [0.6, 0.8, 0], index })),
      usage: {
        prompt_tokens: PROMPT_TOKENS * inputs.length,
        completion_tokens: 0,
        total_tokens: PROMPT_TOKENS * inputs.length,
      },
    });
  });

  app.post("/b/:name/v1/chat/completions", async (c) => {
    const { behaviour, stats } = backend(c.req.param("name"));
    const body = await c.req.json<{
      model: string;
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
    }>();
    stats.lastBody = body;
    if (behaviour.refuseContext) {
      const message = "Prompt contains 9000 tokens, too large for model with 4096 maximum context length";
      return c.json(
        { object: "error", message, type: "invalid_request_error", param: null, code: "context_length_exceeded" },
        400,
      );
    }
    const words = Array.from({ length: behaviour.deltas }, (_, index) => `word${index} `);
    const usage = {
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: words.length,
      total_tokens: PROMPT_TOKENS + words.length,
    };
    const base = { id: "cmpl-1", created: 1_700_000_000, model: body.model };
    if (!body.stream) {
      for (let delta = 0; delta < behaviour.deltas; delta++) {
        await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
        if (c.req.raw.signal.aborted) {
          stats.aborted += 1;
          return c.body(null, 503);
        }
      }
      stats.completed += 1;
      return c.json({
        ...base,
        object: "chat.completion",
        choices: [{ index: 0, message: { role: "assistant", content: words.join("") }, finish_reason: "stop" }],
        usage,
      });
    }
    const encoder = new TextEncoder();
    const event = (data: unknown) =>
      encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    const chunk = (delta: Record<string, unknown>, finish: string | null, extra = {}) => ({
      ...base,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...extra,
    });
    let cancelled = false;
    let unstall!: (value: unknown) => void;
    const stalled = new Promise((resolve) => (unstall = resolve));
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(event(chunk({ role: "assistant", content: "" }, null)));
        for (let waited = 0; waited < behaviour.keepaliveBeforeMs && !cancelled; waited += 500) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          controller.enqueue(encoder.encode(": keep-alive\n\n"));
        }
        for (const [index, word] of words.entries()) {
          await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
          // The pause above lets the deltas sent so far reach the client before the connection drops.
          if (index === behaviour.failAfterDeltas) return controller.error(new Error("backend crashed"));
          if (index === behaviour.stallAfterDeltas) await stalled;
          if (cancelled) return;
          controller.enqueue(event(chunk({ content: word }, null)));
        }
        controller.enqueue(event(chunk({ content: "" }, "stop", behaviour.streamUsage === "finish" ? { usage } : {})));
        if (body.stream_options?.include_usage)
          controller.enqueue(event({ ...base, object: "chat.completion.chunk", choices: [], usage }));
        controller.enqueue(event("[DONE]"));
        stats.completed += 1;
        controller.close();
      },
      cancel() {
        cancelled = true;
        unstall(undefined);
        stats.aborted += 1;
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        [PROMPT_TOKENS_HEADER]: String(PROMPT_TOKENS),
      },
    });
  });
  return app;
}

/** Starts the fake backend on a free loopback port. */
export async function startFakeBackend(): Promise<{ url: string; server: ServerType }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: fakeBackendApp().fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) =>
      resolve({ url: `http://127.0.0.1:${info.port}`, server }),
    );
  });
}
