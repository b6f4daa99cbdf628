import * as z from "zod";
import { LenientBackendHealth, type HealthReport } from "../../protocol/health.ts";
import { readBounded } from "../bounded-read.ts";
import { backendSecret, backendUrl, type BackendConfig } from "./backend.ts";

const PROBE_TIMEOUT_MS = 2_000;
/** The most of a /health or /v1/models answer read: a long model list is a few kilobytes. */
const MAX_PROBE_BODY_BYTES = 1024 * 1024;

/** GET /v1/models; vLLM adds each model's context length as max_model_len. */
const ModelListBody = z.object({
  data: z.array(z.object({ id: z.string(), max_model_len: z.number().int().positive().nullish() })),
});

export async function probeBackend(env: Env, backend: BackendConfig): Promise<HealthReport> {
  const secret = backendSecret(env, backend);
  // A redirect is not followed (the secret would go with it): its 3xx leaves the backend unhealthy.
  const get = (path: string) =>
    fetch(backendUrl(backend, path), {
      headers: secret ? { authorization: `Bearer ${secret}` } : {},
      redirect: "manual",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
  const json = async (response: Response) =>
    JSON.parse((await readBounded(response.body, MAX_PROBE_BODY_BYTES)) ?? "null") as unknown;
  try {
    const response = await get("/health");
    const health = response.ok ? LenientBackendHealth.safeParse(await json(response).catch(() => ({}))) : undefined;
    if (response.ok && health?.success && health.data.models) {
      const { status, models, running, waiting, free_kv_slots, max_context_length, function_calling } = health.data;
      const queued = running === undefined && waiting === undefined ? null : (running ?? 0) + (waiting ?? 0);
      const ready = status === undefined || status === "ready" || status === "ok";
      return {
        ready,
        models,
        queued,
        free_kv_slots: free_kv_slots ?? null,
        max_context_length: max_context_length ?? null,
        function_calling: function_calling ?? false,
      };
    }
    if (!response.ok && response.status !== 404) return unhealthy(`/health answered ${response.status}`);
    // Liveness without a model list (vLLM's bare 200, or no /health at all): ask /v1/models.
    const models = await get("/v1/models");
    if (!models.ok) return unhealthy(`/v1/models answered ${models.status}`);
    const list = ModelListBody.safeParse(await json(models).catch(() => null));
    const listed = list.success ? list.data.data : [];
    const contexts = listed.flatMap((model) => (model.max_model_len ? [model.max_model_len] : []));
    const maxContextLength = contexts.length > 0 && contexts.length === listed.length ? Math.max(...contexts) : null;
    return {
      ready: true,
      models: listed.map((model) => model.id),
      queued: null,
      free_kv_slots: null,
      max_context_length: maxContextLength,
      function_calling: false,
    };
  } catch (error) {
    return unhealthy(error instanceof Error ? error.message : String(error));
  }
}

/** A backend not (yet) known to be serving. */
export function unhealthy(error?: string): HealthReport {
  return {
    ready: false,
    models: [],
    queued: null,
    free_kv_slots: null,
    max_context_length: null,
    function_calling: false,
    ...(error === undefined ? {} : { error }),
  };
}
