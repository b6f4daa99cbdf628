import { Hono } from "hono";
import * as z from "zod";
import { answerError, apiErrors } from "../api-errors.ts";
import { gatewayConfig } from "../config.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import type { ValidationErrorBody } from "../../protocol/index.ts";
import { BackendConfig } from "../routing/backend.ts";
import { backendUrlProblem } from "../routing/backend-url-policy.ts";
import { backendPool } from "../routing/backend-pool.ts";
import { deleteBackend, loadRegistry, registeredBackendIds, saveBackend } from "../routing/registry.ts";
import { readBody } from "../../protocol/http/read-body.ts";
import { sourceOf } from "./source.ts";

const Drain = z.strictObject({ draining: z.boolean().default(true) });

/** /admin/backends: list with live health, add (or replace), remove, drain. */
export const adminBackends = new Hono<GatewayEnv>()
  .get("/", async (c) => c.json({ data: await listBackends(c.env) }))
  .post("/", async (c) => {
    const parsed = await readBody(c, BackendConfig);
    if ("response" in parsed) return parsed.response;
    const problem = backendUrlProblem(parsed.data.url, {
      allowLoopback: gatewayConfig(c.env).allowLoopbackBackends,
      gatewayHost: new URL(c.req.url).host,
    });
    if (problem)
      return c.json(
        {
          detail: [{ loc: ["body", "url"], msg: problem, type: "value_error", input: parsed.data.url }],
        } satisfies ValidationErrorBody,
        422,
      );
    await saveBackend(c.env.DB, parsed.data);
    return c.json(await reloadAndShow(c.env, parsed.data.id), 201);
  })
  .delete("/:id", async (c) => {
    if (!(await deleteBackend(c.env.DB, c.req.param("id"))))
      return answerError(c, apiErrors.registeredBackendNotFound(c.req.param("id")));
    await backendPool(c.env).reload();
    return c.body(null, 204);
  })
  .post("/:id/drain", async (c) => {
    const parsed = await readBody(c, Drain);
    if ("response" in parsed) return parsed.response;
    const backend = (await loadRegistry(c.env)).find((candidate) => candidate.id === c.req.param("id"));
    if (!backend) return answerError(c, apiErrors.backendNotFound(c.req.param("id")));
    await saveBackend(c.env.DB, { ...backend, draining: parsed.data.draining });
    return c.json(await reloadAndShow(c.env, backend.id));
  });

/**
 * The pool's live view of each backend, with where it comes from: a backend of the BACKENDS var
 * (`configured`) cannot be removed through the API, so the console offers Remove only on the others.
 */
async function listBackends(env: Env) {
  const [backends, saved] = await Promise.all([backendPool(env).list(), registeredBackendIds(env.DB)]);
  const configured = new Set(gatewayConfig(env).backends.map((backend) => backend.id));
  return backends.map((backend) => ({ ...backend, source: sourceOf(backend.id, configured, saved) }));
}

async function reloadAndShow(env: Env, id: string) {
  await backendPool(env).reload();
  return (await listBackends(env)).find((backend) => backend.id === id);
}
