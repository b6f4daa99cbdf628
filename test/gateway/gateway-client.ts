import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { keyLimiter } from "../../gateway/ratelimit/key-limiter.ts";
import type { BackendStatus } from "../../protocol/health.ts";
import { backendPool } from "../../gateway/routing/backend-pool.ts";
import type { BackendBehaviour, BackendStats } from "../node/support/fake-backend-contract.ts";

/** Helpers shared by the gateway tests: every call goes through the real worker entry point. */
export const ADMIN_TOKEN = "test-admin-token";

export function gateway(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(`http://gateway${path}`, init);
}

export function adminCall(method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<Response> {
  return gateway(`/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export { eventually } from "../node/support/eventually.ts";

export interface CreatedKey {
  id: string;
  key: string;
}

export async function createKey(options: Record<string, unknown> = {}): Promise<CreatedKey> {
  const response = await adminCall("POST", "/keys", { name: "test", ...options });
  if (response.status !== 201) throw new Error(`key creation failed: ${response.status} ${await response.text()}`);
  return response.json();
}

export interface FakeBackend {
  id: string;
  control(behaviour: Partial<BackendBehaviour>): Promise<void>;
  stats(): Promise<BackendStats>;
}

function fakeBackend(name: string): FakeBackend {
  const base = `${env.FAKE_BACKEND_URL}/b/${name}`;
  return {
    id: name,
    async control(behaviour) {
      const response = await fetch(`${base}/__control`, { method: "POST", body: JSON.stringify(behaviour) });
      if (!response.ok) throw new Error(`control failed: ${response.status}`);
    },
    stats: async () => (await fetch(`${base}/__state`)).json(),
  };
}

export interface Scenario {
  /** Public chat model id (its alias is `alias-<name>`) and embedding model id, both unique to the scenario. */
  model: string;
  embedModel: string;
  backends: FakeBackend[];
}

/**
 * Registers `count` fake backends serving deployments unique to this scenario, so tests sharing a
 * pool never route to each other's backends.
 */
export async function scenario(
  name: string,
  count: number,
  behaviour: Partial<BackendBehaviour> = {},
): Promise<Scenario> {
  const deployment = `deploy-${name}`;
  const model = `model-${name}`;
  const embedModel = `embed-${name}`;
  await expectOk(
    adminCall("PUT", `/models/${model}`, {
      deployment,
      type: "chat",
      max_context_length: 4096,
      aliases: [`alias-${name}`],
    }),
  );
  await expectOk(adminCall("PUT", `/models/${embedModel}`, { deployment, type: "embedding", max_context_length: 512 }));
  const backends: FakeBackend[] = [];
  for (let index = 0; index < count; index++) {
    const backend = fakeBackend(`${name}-${index}`);
    await backend.control({ models: [deployment], secret: env.TEST_BACKEND_SECRET, ...behaviour });
    await expectOk(
      adminCall("POST", "/backends", {
        id: backend.id,
        url: `${env.FAKE_BACKEND_URL}/b/${backend.id}`,
        secret_name: "TEST_BACKEND_SECRET",
      }),
    );
    backends.push(backend);
  }
  return { model, embedModel, backends };
}

export function chat(
  key: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return gateway("/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ messages: [{ role: "user", content: "Hello there" }], ...body }),
  });
}

async function expectOk(response: Promise<Response>): Promise<void> {
  const result = await response;
  if (!result.ok) throw new Error(`admin call failed: ${result.status} ${await result.text()}`);
}

/** Runs the pool's health-poll alarm now, so a backend's new health is seen without waiting. */
export async function pollBackends(): Promise<void> {
  expect(await runDurableObjectAlarm(backendPool(env))).toBe(true);
}

export async function backendStatus(id: string): Promise<BackendStatus> {
  return (await backendPool(env).list()).find((backend) => backend.id === id)!;
}

/**
 * Evicts one key's limiter object, as the runtime may at any time: its next call builds a new one
 * from what storage holds. Only this object: abortAllDurableObjects() would also reset the backend
 * pool, and vitest-pool-workers 0.15 then hangs at teardown of any file with a failed test.
 */
export async function restartKeyLimiter(keyId: string): Promise<void> {
  const aborted = runInDurableObject(keyLimiter(env, keyId), (_limiter, state) => state.abort("restarted by a test"));
  await expect(aborted).rejects.toThrow("restarted by a test");
}
