import * as z from "zod";
import { backendSecret, backendUrl, type BackendConfig } from "./backend.ts";

const PROBE_TIMEOUT_MS = 2_000;

const count = z.number().int().nonnegative();

/**
 * The backend contract's GET /health: status, served model ids and load. The load fields may
 * sit at the top level or under `load`; servers that only answer 200 (vLLM) count as ready.
 */
const HealthBody = z
  .object({
    status: z.string().optional(),
    models: z.array(z.string()).optional(),
    load: z.object({ running: count.optional(), waiting: count.optional(), free_kv_slots: count.optional() }).optional(),
    running: count.optional(),
    waiting: count.optional(),
    free_kv_slots: count.optional(),
    max_context_length: z.number().int().positive().nullish(),
    function_calling: z.boolean().nullish(),
  })
  .transform((body) => ({
    status: body.status,
    models: body.models,
    running: body.load?.running ?? body.running,
    waiting: body.load?.waiting ?? body.waiting,
    freeKvSlots: body.load?.free_kv_slots ?? body.free_kv_slots,
    maxContextLength: body.max_context_length ?? null,
    functionCalling: body.function_calling ?? false,
  }));

/** GET /v1/models; vLLM adds each model's context length as max_model_len. */
const ModelListBody = z.object({ data: z.array(z.object({ id: z.string(), max_model_len: z.number().int().positive().nullish() })) });

export interface HealthReport {
  ready: boolean;
  /** Deployments the backend says it serves. */
  models: string[];
  /** Requests running plus waiting at the backend, when it reports them. */
  queued: number | null;
  freeKvSlots: number | null;
  /** The longest context (prompt + completion tokens) it serves, when it reports one. */
  maxContextLength: number | null;
  /** Whether its models take tools (moxie reports it in /health; other servers count as not). */
  functionCalling: boolean;
  error?: string;
}

export async function probeBackend(env: Env, backend: BackendConfig): Promise<HealthReport> {
  const secret = backendSecret(env, backend);
  const get = (path: string) =>
    fetch(backendUrl(backend, path), {
      headers: secret ? { authorization: `Bearer ${secret}` } : {},
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
  try {
    const response = await get("/health");
    const health = response.ok ? HealthBody.safeParse(await response.json().catch(() => ({}))) : undefined;
    if (response.ok && health?.success && health.data.models) {
      const { status, models, running, waiting, freeKvSlots, maxContextLength, functionCalling } = health.data;
      const queued = running === undefined && waiting === undefined ? null : (running ?? 0) + (waiting ?? 0);
      return { ready: status === undefined || status === "ready" || status === "ok", models, queued, freeKvSlots: freeKvSlots ?? null, maxContextLength, functionCalling };
    }
    if (!response.ok && response.status !== 404) return unhealthy(`/health answered ${response.status}`);
    // Liveness without a model list (vLLM's bare 200, or no /health at all): ask /v1/models.
    const models = await get("/v1/models");
    if (!models.ok) return unhealthy(`/v1/models answered ${models.status}`);
    const list = ModelListBody.safeParse(await models.json().catch(() => null));
    const listed = list.success ? list.data.data : [];
    const contexts = listed.flatMap((model) => (model.max_model_len ? [model.max_model_len] : []));
    const maxContextLength = contexts.length > 0 && contexts.length === listed.length ? Math.max(...contexts) : null;
    return { ready: true, models: listed.map((model) => model.id), queued: null, freeKvSlots: null, maxContextLength, functionCalling: false };
  } catch (error) {
    return unhealthy(error instanceof Error ? error.message : String(error));
  }
}

function unhealthy(error: string): HealthReport {
  return { ready: false, models: [], queued: null, freeKvSlots: null, maxContextLength: null, functionCalling: false, error };
}
