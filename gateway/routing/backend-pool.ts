import type { BackendStatus, HealthReport } from "../../protocol/health.ts";
import { DurableObject } from "cloudflare:workers";
import { gatewayConfig } from "../config.ts";
import type { BackendConfig } from "./backend.ts";
import { chooseBackend } from "./choose-backend.ts";
import { CircuitBreaker } from "./circuit-breaker.ts";
import { probeBackend, unhealthy } from "./health-probe.ts";
import { loadRegistry } from "./registry.ts";

interface LiveBackend {
  config: BackendConfig;
  health: HealthReport & { checkedAt: number };
  breaker: CircuitBreaker;
  /** Requests this gateway has sent there and not yet finished: pick ticket → when it was picked. */
  inflight: Map<string, number>;
}

/** A pick never finished (its gateway died mid-request) stops counting as in flight after this. */
const INFLIGHT_EXPIRY_MS = 10 * 60_000;

export interface PickedBackend {
  id: string;
  /** Names this pick when it is finished. */
  ticket: string;
  url: string;
  secret_name: string | null;
}

export type PickResult = { backend: PickedBackend } | { backend: null; retryAfterSeconds: number };

/** How a request went: feeds the breaker, except "cancelled" (no verdict: the client left, or the backend was busy), which only frees the slot. */
export type Outcome = "success" | "failure" | "cancelled";

/**
 * The backend pool: one object holds the registry's live view — health and load polled from each
 * backend's /health on an alarm, in-flight counts, circuit breakers — and picks a backend per attempt.
 */
export class BackendPool extends DurableObject<Env> {
  private backends = new Map<string, LiveBackend>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(() => this.reload());
  }

  /** Re-reads the registry and polls every backend now; the admin API calls it after each change. */
  async reload(): Promise<void> {
    const registry = await loadRegistry(this.env);
    const next = new Map<string, LiveBackend>();
    for (const config of registry) {
      const previous = this.backends.get(config.id);
      next.set(config.id, {
        config,
        health: previous?.health ?? { ...unhealthy(), checkedAt: 0 },
        breaker: previous?.breaker ?? new CircuitBreaker(gatewayConfig(this.env).breakerCooldownMs),
        inflight: previous?.inflight ?? new Map<string, number>(),
      });
    }
    this.backends = next;
    await this.poll();
  }

  async alarm(): Promise<void> {
    await this.poll();
  }

  pick(deployment: string, affinityKey: string | null, exclude: string[]): PickResult {
    const now = Date.now();
    const candidates = [...this.backends.values()].filter(
      (backend) =>
        !backend.config.draining &&
        backend.health.ready &&
        servedModels(backend).includes(deployment) &&
        !exclude.includes(backend.config.id) &&
        backend.breaker.allows(now),
    );
    const chosen = chooseBackend(
      candidates.map((backend) => ({
        id: backend.config.id,
        load: Math.max(inflightCount(backend, now), backend.health.queued ?? 0),
      })),
      affinityKey,
    );
    if (!chosen) return { backend: null, retryAfterSeconds: Math.max(1, Math.ceil(this.pollIntervalMs() / 1000)) };
    const backend = this.backends.get(chosen.id)!;
    const ticket = crypto.randomUUID();
    backend.inflight.set(ticket, now);
    backend.breaker.onDispatch(now);
    return {
      backend: { id: backend.config.id, ticket, url: backend.config.url, secret_name: backend.config.secret_name },
    };
  }

  /** Reports how a request picked earlier went: releases its in-flight slot and feeds the breaker. */
  finish(pick: Pick<PickedBackend, "id" | "ticket">, outcome: Outcome): void {
    const backend = this.backends.get(pick.id);
    if (!backend?.inflight.delete(pick.ticket)) return;
    if (outcome === "success") backend.breaker.onSuccess();
    else if (outcome === "failure") backend.breaker.onFailure(Date.now());
    else backend.breaker.onCancelled();
  }

  list(): BackendStatus[] {
    const now = Date.now();
    return [...this.backends.values()].map((backend) => {
      const { checkedAt, ...health } = backend.health;
      return {
        id: backend.config.id,
        url: backend.config.url,
        draining: backend.config.draining,
        ...health,
        models: servedModels(backend),
        inflight: inflightCount(backend, now),
        circuit: backend.breaker.state(now),
        checked_at: new Date(checkedAt).toISOString(),
      };
    });
  }

  private async poll(): Promise<void> {
    await Promise.all(
      [...this.backends.values()].map(async (backend) => {
        const report = await probeBackend(this.env, backend.config);
        backend.health = { ...report, checkedAt: Date.now() };
      }),
    );
    if (this.backends.size > 0) await this.ctx.storage.setAlarm(Date.now() + this.pollIntervalMs());
    else await this.ctx.storage.deleteAlarm();
  }

  private pollIntervalMs(): number {
    return gatewayConfig(this.env).healthPollMs;
  }
}

function inflightCount(backend: LiveBackend, now: number): number {
  for (const [ticket, pickedAt] of backend.inflight)
    if (pickedAt < now - INFLIGHT_EXPIRY_MS) backend.inflight.delete(ticket);
  return backend.inflight.size;
}

function servedModels(backend: LiveBackend): string[] {
  return backend.config.models.length > 0 ? backend.config.models : backend.health.models;
}

export function backendPool(env: Env): DurableObjectStub<BackendPool> {
  return env.BACKEND_POOL.get(env.BACKEND_POOL.idFromName("pool"));
}
