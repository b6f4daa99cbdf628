import type { Context } from "hono";
import { gatewayConfig } from "../config.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import type { ModelDefinition } from "../models/model-definition.ts";
import { asServed, loadServedContexts } from "../models/served-context.ts";
import type { PickResult } from "../routing/backend-pool.ts";
import { traceparentOf } from "../tracing/trace-context.ts";
import type { Admission } from "./admission.ts";
import { refusesPromptAsTooLong } from "./backend-verdict.ts";
import type { InferenceRoute, RouteSchema } from "./serve-inference.ts";
import { sendUpstream, type UpstreamResult } from "./upstream.ts";

/** What the backends answered, and for which model: the one asked for, or a fallback. */
export interface Forwarded {
  upstream: UpstreamResult;
  model: ModelDefinition;
}

/**
 * Sends the admitted request to a backend of its model and, while needsFallback says so, to its
 * fallbacks in turn. Null when the client left on the way: nobody is left to answer.
 */
export async function forwardWithFallbacks<S extends RouteSchema>(
  c: Context<GatewayEnv>,
  route: InferenceRoute<S>,
  admission: Admission<S>,
  gatewayAbort: AbortSignal,
): Promise<Forwarded | null> {
  const send = sender(c, route, admission, gatewayAbort);
  const { pool } = admission;
  let model = admission.model;
  try {
    let upstream = await send(model, admission.firstPick);
    for (const fallback of admission.fallbacks) {
      if (!(await needsFallback(upstream, model))) break;
      if (upstream.response) {
        // The backend was right to refuse a prompt too long for it: it stays in good standing.
        await upstream.response.body?.cancel();
        await pool.finish(upstream.backend, "success");
      }
      model = asServed(fallback, await loadServedContexts(c.env, fallback.deployment));
      admission.trail.fallbacks += 1;
      upstream = await send(model, pool.pick(model.deployment, admission.affinityKey, []));
    }
    return { upstream, model };
  } catch {
    // Only a client disconnect gets here.
    return null;
  }
}

/**
 * Whether the next fallback should be tried: no backend of the model answered before the first
 * byte, or (when the model asks for it) its backend refused the prompt as too long for its context.
 */
async function needsFallback(upstream: UpstreamResult, model: ModelDefinition): Promise<boolean> {
  if (!upstream.response) return true;
  return model.fallback_on_context_overflow && (await refusesPromptAsTooLong(upstream.response));
}

/** Sends the request, as one for `target`, to the pool's pick. */
function sender<S extends RouteSchema>(
  c: Context<GatewayEnv>,
  route: InferenceRoute<S>,
  { request, body, key, pool, affinityKey, maxTokens, trail }: Admission<S>,
  gatewayAbort: AbortSignal,
) {
  const config = gatewayConfig(c.env);
  const streams = route.streams(request);
  // The backend request ends when the client goes (even before this line: a signal already aborted
  // counts) or when the gateway gives up on it.
  const signal = AbortSignal.any([c.req.raw.signal, gatewayAbort]);
  return async (target: ModelDefinition, pick: Promise<PickResult>): Promise<UpstreamResult> =>
    sendUpstream(c.env, pool, pick, {
      deployment: target.deployment,
      affinityKey,
      path: route.path,
      body: await route.upstreamBody(body, request, target, maxTokens, key),
      requestId: c.var.requestId,
      traceparent: traceparentOf(c.var.trace),
      tenant: key.id,
      trail,
      signal,
      deadlineMs: streams ? config.upstreamIdleMs : config.upstreamTimeoutMs,
      streams,
    });
}
