import type { Context } from "hono";
import { modelCard, type ModelList } from "../../protocol/index.ts";
import { answerError, apiErrors } from "../api-errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { loadCatalog, resolveModel } from "../models/model-catalog.ts";
import type { ModelDefinition } from "../models/model-definition.ts";
import { asServed, servedContexts } from "../models/served-context.ts";
import type { BackendStatus } from "../../protocol/health.ts";
import { backendPool } from "../routing/backend-pool.ts";

/** GET /v1/models: the public models whose deployment at least one healthy backend serves, with the context it is served with. */
export async function listModels(c: Context<GatewayEnv>): Promise<Response> {
  const [catalog, backends] = await Promise.all([loadCatalog(c.env), backendPool(c.env).list()]);
  const served = servedContexts(backends);
  const list: ModelList = {
    object: "list",
    data: catalog
      .filter((model) => served.has(model.deployment))
      .map((model) => publicCard(asServed(model, served), callsTools(backends, model.deployment))),
  };
  return c.json(list);
}

/**
 * GET /v1/models/{model_id} (Mistral's models.retrieve): the card of a catalog model, found by id or
 * alias; an alias answers with the card of the model it names. A model no healthy backend serves
 * right now still exists, so it gets its card (with the catalog's context) rather than a 404.
 */
export async function retrieveModel(c: Context<GatewayEnv>): Promise<Response> {
  const name = c.req.param("model_id") ?? "";
  const [catalog, backends] = await Promise.all([loadCatalog(c.env), backendPool(c.env).list()]);
  const model = resolveModel(catalog, name);
  if (!model) return answerError(c, apiErrors.modelNotFound(name));
  return c.json(publicCard(asServed(model, servedContexts(backends)), callsTools(backends, model.deployment)));
}

/** A deployment takes tools when every healthy backend serving it says its model does. */
function callsTools(backends: BackendStatus[], deployment: string): boolean {
  const serving = backends.filter(
    (backend) => backend.ready && !backend.draining && backend.models.includes(deployment),
  );
  return serving.length > 0 && serving.every((backend) => backend.function_calling);
}

function publicCard(model: ModelDefinition, functionCalling: boolean) {
  return modelCard({
    id: model.id,
    aliases: model.aliases,
    maxContextLength: model.max_context_length,
    chat: model.type === "chat",
    functionCalling: functionCalling && model.type === "chat",
    created: 0,
    description: `served by deployment ${model.deployment}`,
  });
}
