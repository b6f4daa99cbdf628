import { Hono } from "hono";
import { answerError, apiErrors } from "../api-errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { fallbackProblem } from "../models/fallbacks.ts";
import { gatewayConfig } from "../config.ts";
import { deleteModel, loadCatalog, saveModel, savedModelIds } from "../models/model-catalog.ts";
import { ModelDefinition } from "../models/model-definition.ts";
import { servedContexts } from "../models/served-context.ts";
import { backendPool } from "../routing/backend-pool.ts";
import { readBody } from "../../protocol/http/read-body.ts";
import { sourceOf } from "./source.ts";

/** /admin/models: public names and aliases → deployments, on top of the MODELS var. */
export const adminModels = new Hono<GatewayEnv>()
  .get("/", async (c) => {
    const [catalog, saved, backends] = await Promise.all([
      loadCatalog(c.env),
      savedModelIds(c.env.DB),
      backendPool(c.env).list(),
    ]);
    const configured = new Set(gatewayConfig(c.env).models.map((model) => model.id));
    const served = servedContexts(backends);
    // Where each model comes from (the operator can only delete what was saved), and whether a healthy backend serves it now.
    const data = catalog.map((model) => ({
      ...model,
      source: sourceOf(model.id, configured, saved),
      served: served.has(model.deployment),
    }));
    return c.json({ data });
  })
  .put("/:id", async (c) => {
    const parsed = await readBody(c, ModelDefinition.omit({ id: true }));
    if ("response" in parsed) return parsed.response;
    const model = { id: c.req.param("id"), ...parsed.data };
    const problem = fallbackProblem(await loadCatalog(c.env), model);
    if (problem) return answerError(c, apiErrors.invalidFallbacks(problem));
    await saveModel(c.env.DB, model);
    return c.json(model);
  })
  .delete("/:id", async (c) => {
    if (!(await deleteModel(c.env.DB, c.req.param("id"))))
      return answerError(c, apiErrors.savedModelNotFound(c.req.param("id")));
    return c.body(null, 204);
  });
