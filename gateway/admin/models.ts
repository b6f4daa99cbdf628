import { Hono } from "hono";
import { answerError, apiErrors } from "../api-errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { fallbackProblem } from "../models/fallbacks.ts";
import { deleteModel, loadCatalog, saveModel } from "../models/model-catalog.ts";
import { ModelDefinition } from "../models/model-definition.ts";
import { readBody } from "../../protocol/http/read-body.ts";

/** /admin/models: public names and aliases → deployments, on top of the MODELS var. */
export const adminModels = new Hono<GatewayEnv>()
  .get("/", async (c) => c.json({ data: await loadCatalog(c.env) }))
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
